public import AuthdCore
import AuthdProtocol
import Logging
public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Turns one request line into one reply line. Shared by every connection.
///
/// It never throws: every failure, from broken JSON to an internal error, becomes an error reply
/// with a stable code, and the connection carries on. The ops and who may call each are declared
/// once, in ``operations``.
public final class RequestHandler: Sendable {
    private let current: CurrentTokens
    private let revoker: Revoker
    private let refresher: RefreshService
    let accounts: AccountService
    private let policy: CurrentPolicy
    let logger: Logger
    private let startedAt: UInt64
    private let version: String
    private let fleet: FleetHealth?
    private let refreshKeys: (@Sendable () async -> Bool)?
    /// Where answered requests are counted and timed, when the HTTP face serves metrics.
    let metrics: AuthdMetrics?

    /// A handler serving the tokens in force in `tokens`, recording revocations with `revoker`.
    init(
        tokens: CurrentTokens, policy: CurrentPolicy, revoker: Revoker, refresher: RefreshService, accounts: AccountService,
        version: String, fleet: FleetHealth? = nil, refreshKeys: (@Sendable () async -> Bool)? = nil, metrics: AuthdMetrics? = nil,
        logger: Logger
    ) {
        self.metrics = metrics
        self.fleet = fleet
        self.refreshKeys = refreshKeys
        self.current = tokens
        self.accounts = accounts
        self.policy = policy
        self.revoker = revoker
        self.refresher = refresher
        self.logger = logger
        self.version = version
        self.startedAt = monotonicNanoseconds()
    }

    /// Appends the reply to one request line (without its newline) from `caller` to `output`,
    /// without a newline.
    ///
    /// The exact compact `verify` line that services send on every call is recognised without a
    /// JSON tree; anything else is parsed in full. Either way the op's handler in
    /// ``operations`` answers, after the op's declared access has been checked.
    public func writeReply(to line: ByteBuffer, caller: Caller, into output: inout [UInt8]) async {
        switch classify(line) {
        case .verify(let id, let token): await writeVerifyReply(id: id, token: token, into: &output)
        case .refused(let refusal): refusal.encode(into: &output)
        case .request(let envelope): Self.write(id: envelope.id, await dispatch(envelope, caller: caller), into: &output)
        }
    }

    /// Answers the request lines a client sent together, each reply followed by a newline, in
    /// request order.
    ///
    /// Requests are served one after the other, as if sent one at a time, with one exception:
    /// consecutive `revoke` requests run side by side, so that a client that pipelines revocations
    /// gets them committed together (one `fsync`, or one PostgreSQL transaction) instead of one
    /// commit each. Nothing after them in the batch runs before all of them have taken effect, so
    /// a `verify` pipelined behind a `revoke` sees it.
    public func writeReplies(to lines: [ByteBuffer], caller: Caller, into output: inout [UInt8]) async {
        var revocations: [RequestEnvelope] = []
        for line in lines {
            let request = classify(line)
            if case .request(let envelope) = request, envelope.op == RevokeRequest.op {
                revocations.append(envelope)
                continue
            }
            await writeReplies(toRevocations: revocations, caller: caller, into: &output)
            revocations.removeAll()
            switch request {
            case .verify(let id, let token): await writeVerifyReply(id: id, token: token, into: &output)
            case .refused(let refusal): refusal.encode(into: &output)
            case .request(let envelope): Self.write(id: envelope.id, await dispatch(envelope, caller: caller), into: &output)
            }
            output.append(UInt8(ascii: "\n"))
        }
        await writeReplies(toRevocations: revocations, caller: caller, into: &output)
    }

    /// Answers `line` at once, on the calling thread, when it needs nothing but the CPU: a
    /// compact `verify` (from the verified-token cache, or with its signature checked; a refusal
    /// is audited as always), `ping`, and an op that declares how to answer without waiting and
    /// can (``answerWithoutWaiting(_:caller:)``: an `issue` without a refresh token). Returns
    /// `false`, having written nothing, for anything else, which
    /// ``writeReplies(to:caller:into:)`` answers: any other op or form, an op that must wait, and
    /// a fleet node's token with a key it must first read from the database.
    func writeInlineReply(to line: ByteBuffer, caller: Caller, into output: inout [UInt8]) -> Bool {
        let started = metrics == nil ? nil : ContinuousClock.now
        let op: String
        let reply: Result<OperationReply, AuthdError>
        if let (id, token) = line.withUnsafeReadableBytes(VerifyLineShortcut.match) {
            guard let outcome = verifyWithoutWaiting(VerifyRequest(token: token)) else { return false }
            (op, reply) = (VerifyRequest.op, outcome.map { .encoded($0.encodedResult) })
            Self.write(id: id, reply, into: &output)
        } else if let ping = PingLine.match(line) {
            (op, reply) = (PingRequest.op, .success(.encoded(Self.encodedPingResult)))
            Self.write(id: ping.id, reply, into: &output)
        } else if line.withUnsafeReadableBytes(Self.mayNameAnOpAnsweredWithoutWaiting),
            let envelope = try? line.withUnsafeReadableBytes({ bytes throws(RequestParseError) in try RequestEnvelope.parse(bytes) }),
            let answer = answerWithoutWaiting(envelope, caller: caller)
        {
            (op, reply) = (envelope.op, answer)
            Self.write(id: envelope.id, reply, into: &output)
        } else {
            return false
        }
        if let metrics, let started { metrics.record(op: op, code: reply.failureCode, duration: .now - started) }
        return true
    }

    /// `ping`'s result, encoded once: it never changes, and health checks ask for it often.
    private static let encodedPingResult = JSONWriter.bytes(.object(PingResult().result))

    /// The names of the ops that may answer without waiting, each in quotes as a line names it.
    private static let opsAnsweredWithoutWaiting: [[UInt8]] = operations.values.filter { $0.runWithoutWaiting != nil }
        .map { Array("\"\($0.name)\"".utf8) }

    /// Whether `line` may ask for one of those ops: a scan for the quoted name (from quote to
    /// quote with `memchr`), so that no other request is parsed twice, here and again by the
    /// task. A line that spells the name with escapes is not recognised and is answered by the
    /// task, as any line may be.
    private static func mayNameAnOpAnsweredWithoutWaiting(_ line: UnsafeRawBufferPointer) -> Bool {
        guard let base = line.baseAddress else { return false }
        var start = 0
        while let quote = line.offset(of: UInt8(ascii: "\""), from: start) {
            let rest = line.count - quote
            if opsAnsweredWithoutWaiting.contains(where: { name in name.count <= rest && memcmp(base + quote, name, name.count) == 0 }) {
                return true
            }
            start = quote + 1
        }
        return false
    }

    private func writeVerifyReply(id: RequestID?, token: String, into output: inout [UInt8]) async {
        let started = metrics == nil ? nil : ContinuousClock.now
        let reply: Result<OperationReply, AuthdError>
        do {
            reply = .success(.encoded(try await verify(VerifyRequest(token: token), tokens: current.service).encodedResult))
        } catch {
            reply = .failure(error)
        }
        if let metrics, let started { metrics.record(op: VerifyRequest.op, code: reply.failureCode, duration: .now - started) }
        Self.write(id: id, reply, into: &output)
    }

    private func writeReplies(toRevocations envelopes: [RequestEnvelope], caller: Caller, into output: inout [UInt8]) async {
        guard envelopes.count > 1 else {
            if let envelope = envelopes.first {
                Self.write(id: envelope.id, await dispatch(envelope, caller: caller), into: &output)
                output.append(UInt8(ascii: "\n"))
            }
            return
        }
        let replies = await withTaskGroup(of: (Int, Result<OperationReply, AuthdError>).self) { group in
            for (index, envelope) in envelopes.enumerated() {
                group.addTask { (index, await self.dispatch(envelope, caller: caller)) }
            }
            var replies = [Result<OperationReply, AuthdError>?](repeating: nil, count: envelopes.count)
            for await (index, reply) in group { replies[index] = reply }
            return replies
        }
        for (envelope, reply) in zip(envelopes, replies) {
            // Every task of the group has answered by now.
            Self.write(id: envelope.id, reply ?? .failure(AuthdError(.internalError, "no reply")), into: &output)
            output.append(UInt8(ascii: "\n"))
        }
    }

    /// A success reply carries the result object, or the bytes the handler encoded.
    private static func write(id: RequestID?, _ reply: Result<OperationReply, AuthdError>, into output: inout [UInt8]) {
        switch reply {
        case .success(.object(let result)):
            ReplyEnvelope(id: id, outcome: .success(result)).encode(into: &output)
        case .success(.encoded(let result)):
            output.append(UInt8(ascii: "{"))
            if let id {
                output.append(contentsOf: #""id":"#.utf8)
                JSONWriter.write(id.json, into: &output)
                output.append(UInt8(ascii: ","))
            }
            output.append(contentsOf: #""ok":true,"result":"#.utf8)
            output.append(contentsOf: result)
            output.append(UInt8(ascii: "}"))
        case .failure(let error):
            ReplyEnvelope(id: id, outcome: .failure(error)).encode(into: &output)
        }
    }

    private enum ParsedLine {
        /// The shortcut's verify line: no envelope is built for the hot path.
        case verify(id: RequestID?, token: String)
        case request(RequestEnvelope)
        case refused(ReplyEnvelope)
    }

    /// What `line` asks for: the verify shortcut, a request envelope, or the refusal to send for
    /// a line that is not a request.
    private func classify(_ line: ByteBuffer) -> ParsedLine {
        if let (id, token) = line.withUnsafeReadableBytes(VerifyLineShortcut.match) { return .verify(id: id, token: token) }
        let parsed = line.withUnsafeReadableBytes { bytes in
            Result { () throws(RequestParseError) in try RequestEnvelope.parse(bytes) }
        }
        switch parsed {
        case .success(let envelope): return .request(envelope)
        case .failure(let error):
            logRefusal(op: nil, error.error)
            return .refused(ReplyEnvelope(id: error.id, outcome: .failure(error.error)))
        }
    }

    /// Looks the op up, checks who may call it (deny by default: access is part of every op's
    /// declaration), then decodes and runs it.
    private func dispatch(_ envelope: RequestEnvelope, caller: Caller) async -> Result<OperationReply, AuthdError> {
        guard let metrics else { return await run(envelope, caller: caller) }
        let started = ContinuousClock.now
        let reply = await run(envelope, caller: caller)
        metrics.record(op: envelope.op, code: reply.failureCode, duration: .now - started)
        return reply
    }

    private func run(_ envelope: RequestEnvelope, caller: Caller) async -> Result<OperationReply, AuthdError> {
        do throws(AuthdError) {
            guard let operation = Self.operations[envelope.op] else {
                throw AuthdError(.unknownOp, "unknown op '\(Self.printable(envelope.op))'")
            }
            let context = try authorize(operation, caller: caller, policy: policy.policy)
            return .success(try await operation.run(self, envelope.fields, context))
        } catch {
            logFailure(op: envelope.op, caller: caller, error)
            return .failure(error)
        }
    }

    /// `envelope` answered at once, on the calling thread, when its op declares how to answer
    /// without waiting and can (``Operation/runWithoutWaiting``); `nil` when the connection's
    /// task must answer it, as it does any op that waits on the store, the clock, or a look-up
    /// of the caller's groups in the user database.
    func answerWithoutWaiting(_ envelope: RequestEnvelope, caller: Caller) -> Result<OperationReply, AuthdError>? {
        // One reading of the policy for both questions: a reload in between must not bring a
        // group look-up onto the event loop.
        let policy = self.policy.policy
        guard let operation = Self.operations[envelope.op], let runWithoutWaiting = operation.runWithoutWaiting,
            !Self.needsGroupLookUp(operation, caller: caller, policy: policy)
        else { return nil }
        do throws(AuthdError) {
            let context = try authorize(operation, caller: caller, policy: policy)
            guard let reply = try runWithoutWaiting(self, envelope.fields, context) else { return nil }
            return .success(reply)
        } catch {
            logFailure(op: envelope.op, caller: caller, error)
            return .failure(error)
        }
    }

    /// Checks who may call `operation` (deny by default: access is part of every op's
    /// declaration) and returns what its handler may use.
    private func authorize(_ operation: Operation, caller: Caller, policy: Policy) throws(AuthdError) -> OperationContext {
        var caller = caller
        if case .grant(let grant) = operation.access {
            // Supplementary groups are looked up only when a group grant decides, so a
            // connection that only verifies costs no user-database look-up.
            if policy.needsGroups(of: caller) { caller = caller.withSupplementaryGroups() }
            try policy.authorize(operation.name, grant: grant, caller: caller)
        }
        return OperationContext(caller: caller, tokens: current.service, policy: policy)
    }

    /// Whether deciding `caller`'s access to `operation` means looking up its groups, which can
    /// block on the user database: never done on an event loop.
    private static func needsGroupLookUp(_ operation: Operation, caller: Caller, policy: Policy) -> Bool {
        guard case .grant = operation.access else { return false }
        return policy.needsGroups(of: caller)
    }

    private func logFailure(op: String, caller: Caller, _ error: AuthdError) {
        if error.code == .permissionDenied { logDenial(op: op, caller: caller, error) }
        if error.code == .storageFailure { logStorageFailure(op: op, error) }
        if op != VerifyRequest.op { logRefusal(op: op, error) }
    }

    /// Malformed requests are logged at debug level only: a buggy or hostile client must not be
    /// able to flood the log. (Refused verifications are audit events and logged by `verify`.)
    private func logRefusal(op: String?, _ error: AuthdError) {
        logger.debug(
            "request refused",
            metadata: [
                "authd.op": "\(op.map(Self.printable) ?? "-")", "authd.code": "\(error.code)", "authd.reason": "\(error.message)",
            ])
    }

    /// The store failed (disk full, read-only, a damaged row): the operator must hear of it.
    private func logStorageFailure(op: String, _ error: AuthdError) {
        logger.error(
            "storage failure", metadata: ["authd.op": "\(Self.printable(op))", "authd.code": "\(error.code)", "authd.reason": "\(error.message)"])
    }

    private func logDenial(op: String, caller: Caller, _ error: AuthdError) {
        logger.notice(
            "permission denied",
            metadata: [
                AuditEvent.metadataKey: "\(AuditEvent.permissionDenied.messageID)", "authd.op": "\(Self.printable(op))",
                "authd.peer_uid": "\(caller.uid)", "authd.peer_gid": "\(caller.gid)", "authd.peer_pid": "\(caller.pid)",
                "authd.reason": "\(error.message)",
            ])
    }

    func issue(_ request: IssueRequest, _ context: OperationContext) async throws(AuthdError) -> IssueResult {
        let tokens = context.tokens
        // The op's grant was checked before decoding; this checks what the request asks for.
        try context.policy.authorizeIssue(request, caller: context.caller)
        try await tokens.waitUntilIssuable(subject: request.subject)
        let result = request.refresh ? try await refresher.issue(request, tokens: tokens) : try tokens.issuer.issue(request)
        auditIssue(request, result, context)
        return result
    }

    /// ``issue(_:_:)`` on the calling thread, or `nil` when it would wait: for the store (a
    /// refresh token is asked for) or for the next second (the subject's tokens were revoked in
    /// this one). Signing needs nothing but the CPU.
    func issueWithoutWaiting(_ request: IssueRequest, _ context: OperationContext) throws(AuthdError) -> IssueResult? {
        guard !request.refresh else { return nil }
        try context.policy.authorizeIssue(request, caller: context.caller)
        guard try context.tokens.isIssuableNow(subject: request.subject) else { return nil }
        let result = try context.tokens.issuer.issue(request)
        auditIssue(request, result, context)
        return result
    }

    private func auditIssue(_ request: IssueRequest, _ result: IssueResult, _ context: OperationContext) {
        logger.info(
            "token issued",
            metadata: [
                // Strings as they are, not interpolated into copies: this line is written for every token.
                AuditEvent.metadataKey: .string(AuditEvent.tokenIssued.messageID), "authd.op": "issue", "authd.sub": .string(request.subject),
                "authd.jti": .string(result.jti), "authd.kid": .string(context.tokens.activeKeyID),
                "authd.roles": .string(request.roles.joined(separator: ",")), "authd.exp": .string(String(result.expiresAt)),
                "authd.refresh": request.refresh ? "true" : "false",
            ].withPeer(context.caller))
    }

    func refresh(_ request: RefreshRequest, _ context: OperationContext) async throws(AuthdError) -> IssueResult {
        let caller = context.caller
        do {
            let result = try await refresher.refresh(request, tokens: context.tokens)
            logger.info(
                "token refreshed",
                metadata: [
                    AuditEvent.metadataKey: "\(AuditEvent.tokenIssued.messageID)", "authd.op": "refresh", "authd.jti": "\(result.jti)",
                    "authd.exp": "\(result.expiresAt)",
                ].withPeer(caller))
            return result
        } catch {
            if error.code == .refreshReused {
                logger.warning(
                    "refresh token reused: session revoked",
                    metadata: [
                        AuditEvent.metadataKey: "\(AuditEvent.tokenRevoked.messageID)", "authd.op": "refresh", "authd.code": "\(error.code)",
                    ].withPeer(caller))
            }
            throw error
        }
    }

    func revoke(_ request: RevokeRequest, _ context: OperationContext) async throws(AuthdError) -> RevokeResult {
        let caller = context.caller
        let revocation = try await revoker.perform(request, tokens: context.tokens)
        var metadata: Logger.Metadata = [
            AuditEvent.metadataKey: "\(AuditEvent.tokenRevoked.messageID)", "authd.op": "revoke",
            "authd.revoked": "\(revocation.result.revoked)",
        ].withPeer(caller)
        switch request.target.kind {
        case .token: metadata["authd.target"] = "token"
        case .refreshToken: metadata["authd.target"] = "refresh_token"
        case .jti: metadata["authd.target"] = "jti"
        case .subject: metadata["authd.target"] = "subject"
        }
        // What was recorded, never the token itself: a token revoked by value is named by its jti.
        switch revocation.record {
        case .token(let jti, _): metadata["authd.jti"] = "\(jti)"
        case .subject(let subject, let before, _):
            metadata["authd.sub"] = "\(subject)"
            metadata["authd.before"] = "\(before)"
        case .family(let family, _): metadata["authd.family"] = "\(family)"
        case nil: break
        }
        logger.notice("revoked", metadata: metadata)
        return revocation.result
    }

    /// The token service in force now (a reload replaces it).
    var tokensInForce: TokenService { current.service }

    /// The one way a token is verified for a reply: the shortcut, the full parser and the HTTP
    /// face all end here.
    ///
    /// On a fleet node, a token signed by a key it does not know yet (another node has just
    /// rotated) makes it re-read the fleet's keys once, rate-limited, and try again.
    /// `verify`, on the calling thread and without waiting on anything but the CPU: the outcome, a
    /// refusal audited as ``verify(_:tokens:)`` audits it, or `nil` when the answer needs the
    /// database (a fleet node that does not know the token's key yet reads the keys again first),
    /// which ``verify(_:tokens:)`` then gives.
    func verifyWithoutWaiting(_ request: VerifyRequest) -> Result<VerifiedToken, AuthdError>? {
        let tokens = current.service
        do throws(AuthdError) {
            return .success(try tokens.verifier.verifiedToken(request))
        } catch {
            if error.code == .invalidToken, refreshKeys != nil, tokens.verifier.referencesUnknownKey(request.token) { return nil }
            logVerificationRefused(error)
            return .failure(error)
        }
    }

    func verify(_ request: VerifyRequest, tokens: TokenService) async throws(AuthdError) -> VerifiedToken {
        do throws(AuthdError) {
            do throws(AuthdError) {
                return try tokens.verifier.verifiedToken(request)
            } catch {
                guard error.code == .invalidToken, let refreshKeys, tokens.verifier.referencesUnknownKey(request.token),
                    await refreshKeys()
                else { throw error }
                return try tokens.verifier.verifiedToken(request)
            }
        } catch {
            logVerificationRefused(error)
            throw error
        }
    }

    /// The audit entry of a refused verification. The token itself is never logged: it is a
    /// bearer credential.
    private func logVerificationRefused(_ error: AuthdError) {
        logger.info(
            "verification refused",
            metadata: [
                AuditEvent.metadataKey: "\(AuditEvent.verificationRefused.messageID)", "authd.op": "verify",
                "authd.code": "\(error.code)", "authd.reason": "\(error.message)",
            ])
    }

    func jwks(_ request: JWKSRequest, _ context: OperationContext) -> JWKSResult { context.tokens.jwks() }

    func ping(_ request: PingRequest, _ context: OperationContext) -> PingResult { PingResult() }

    func status(_ request: StatusRequest, _ context: OperationContext) -> StatusResult {
        let tokens = context.tokens
        let counters = tokens.counters
        var result = StatusResult(
            version: version, uptimeSeconds: Int64((monotonicNanoseconds() - startedAt) / 1_000_000_000),
            activeKid: tokens.activeKeyID, keyIds: tokens.keyIDs, issued: counters.issued,
            verified: counters.verified, rejected: counters.rejected, connections: counters.connections,
            pid: Int64(getpid()))
        if let fleet {
            let health = fleet.snapshot
            result.fleet = FleetStatus(
                node: fleet.node, connected: health.connected, appliedSeq: health.appliedSequence, stalenessSeconds: health.staleness,
                stale: health.isStale)
        }
        return result
    }

    /// An op name as it may be echoed: bounded and without control characters.
    static func printable(_ text: String) -> String {
        let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.prefix(64).filter { $0.value >= 0x20 && $0.value != 0x7F }))
        return text.unicodeScalars.count > 64 ? cleaned + "…" : cleaned
    }
}

extension Logger.Metadata {
    /// This metadata with the caller's credentials added (AUTHD_PEER_UID/GID/PID in the journal).
    /// Consuming, so that the literal it is called on is extended in place, not copied.
    consuming func withPeer(_ caller: Caller) -> Logger.Metadata {
        var metadata = self
        metadata["authd.peer_uid"] = .string(String(caller.uid))
        metadata["authd.peer_gid"] = .string(String(caller.gid))
        metadata["authd.peer_pid"] = .string(String(caller.pid))
        return metadata
    }
}

extension Result where Failure == AuthdError {
    /// The error's code, `nil` for a success.
    var failureCode: AuthdError.Code? {
        if case .failure(let error) = self { error.code } else { nil }
    }
}
