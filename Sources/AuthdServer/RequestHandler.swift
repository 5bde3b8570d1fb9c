public import AuthdCore
public import AuthdProtocol
public import Logging
public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Turns one request line into one reply line. Shared by every connection.
///
/// It never throws: every failure, from broken JSON to an internal error, becomes an error reply
/// with a stable code, and the connection carries on.
public final class RequestHandler: Sendable {
    private let current: CurrentTokens
    private let revoker: Revoker
    private let refresher: RefreshService
    let accounts: AccountService
    private let policy: CurrentPolicy
    let logger: Logger
    private let startedAt: UInt64
    private let version: String

    /// A handler serving the tokens in force in `tokens`, recording revocations with `revoker`.
    public init(
        tokens: CurrentTokens, policy: CurrentPolicy, revoker: Revoker, refresher: RefreshService, accounts: AccountService,
        version: String, logger: Logger
    ) {
        self.current = tokens
        self.accounts = accounts
        self.policy = policy
        self.revoker = revoker
        self.refresher = refresher
        self.logger = logger
        self.version = version
        self.startedAt = monotonicNanoseconds()
    }

    /// The reply to one request line (without its newline) from `caller`.
    public func reply(to line: ByteBuffer, caller: Caller) async -> ReplyEnvelope {
        switch parse(line) {
        case .refused(let refusal): refusal
        case .request(let envelope): await reply(to: envelope, caller: caller)
        }
    }

    /// Appends the reply line (without its newline) to `output`: what ``reply(to:caller:)``
    /// answers, with a shortcut for `verify`, the request services send on every call. A verified
    /// token's result was encoded when it was first verified, so the reply reuses those bytes
    /// instead of building and encoding the result again.
    public func writeReply(to line: ByteBuffer, caller: Caller, into output: inout [UInt8]) async {
        if let (id, token) = line.withUnsafeReadableBytes(VerifyLineShortcut.match) {
            writeVerifyReply(id: id, request: VerifyRequest(token: token), into: &output)
            return
        }
        let envelope: RequestEnvelope
        switch parse(line) {
        case .refused(let refusal):
            refusal.encode(into: &output)
            return
        case .request(let parsed):
            envelope = parsed
        }
        guard envelope.op == VerifyRequest.op else {
            await reply(to: envelope, caller: caller).encode(into: &output)
            return
        }
        do {
            writeVerifyReply(id: envelope.id, request: try VerifyRequest(fields: envelope.fields), into: &output)
        } catch {
            ReplyEnvelope(id: envelope.id, outcome: .failure(error)).encode(into: &output)
        }
    }

    private func writeVerifyReply(id: RequestID?, request: VerifyRequest, into output: inout [UInt8]) {
        do {
            let verified = try verify(request, tokens: current.service)
            output.append(UInt8(ascii: "{"))
            if let id {
                output.append(contentsOf: #""id":"#.utf8)
                JSONWriter.write(id.json, into: &output)
                output.append(UInt8(ascii: ","))
            }
            output.append(contentsOf: #""ok":true,"result":"#.utf8)
            output.append(contentsOf: verified.encodedResult)
            output.append(UInt8(ascii: "}"))
        } catch {
            ReplyEnvelope(id: id, outcome: .failure(error)).encode(into: &output)
        }
    }

    private enum ParsedLine {
        case request(RequestEnvelope)
        case refused(ReplyEnvelope)
    }

    /// The request envelope, or the refusal to send for a line that is not one.
    private func parse(_ line: ByteBuffer) -> ParsedLine {
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

    private func reply(to envelope: RequestEnvelope, caller: Caller) async -> ReplyEnvelope {
        do {
            return ReplyEnvelope(id: envelope.id, outcome: .success(try await dispatch(envelope, caller: caller)))
        } catch {
            if error.code == .permissionDenied { logDenial(op: envelope.op, caller: caller, error) }
            if envelope.op != VerifyRequest.op { logRefusal(op: envelope.op, error) }
            return ReplyEnvelope(id: envelope.id, outcome: .failure(error))
        }
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

    private func logDenial(op: String, caller: Caller, _ error: AuthdError) {
        logger.notice(
            "permission denied",
            metadata: [
                AuditEvent.metadataKey: "\(AuditEvent.permissionDenied.messageID)", "authd.op": "\(Self.printable(op))",
                "authd.peer_uid": "\(caller.uid)", "authd.peer_gid": "\(caller.gid)", "authd.peer_pid": "\(caller.pid)",
                "authd.reason": "\(error.message)",
            ])
    }

    private func dispatch(_ envelope: RequestEnvelope, caller: Caller) async throws(AuthdError) -> JSONObject {
        let tokens = current.service
        let policy = self.policy.policy
        let caller = policy.needsGroups(of: caller) ? caller.withSupplementaryGroups() : caller
        switch envelope.op {
        case VerifyRequest.op: return try verify(VerifyRequest(fields: envelope.fields), tokens: tokens).result.result
        case IssueRequest.op:
            let request = try IssueRequest(fields: envelope.fields)
            try policy.authorizeIssue(request, caller: caller)
            return try await issue(request, tokens: tokens, caller: caller).result
        case RefreshRequest.op:
            return try await refresh(RefreshRequest(fields: envelope.fields), tokens: tokens, caller: caller).result
        case RevokeRequest.op:
            try policy.authorize(RevokeRequest.op, caller: caller)
            return try await revoke(RevokeRequest(fields: envelope.fields), tokens: tokens, caller: caller).result
        case LoginRequest.op:
            return try await login(LoginRequest(fields: envelope.fields), tokens: tokens, caller: caller).result
        case let op where AccountAdministration.ops.contains(op):
            try policy.authorize(envelope.op, caller: caller, grant: "admin")
            return try await administer(envelope, tokens: tokens, caller: caller)
        case JWKSRequest.op:
            _ = try JWKSRequest(fields: envelope.fields)
            return tokens.jwks().result
        case StatusRequest.op:
            _ = try StatusRequest(fields: envelope.fields)
            return status(tokens).result
        case PingRequest.op:
            _ = try PingRequest(fields: envelope.fields)
            return PingResult().result
        default:
            throw AuthdError(.unknownOp, "unknown op '\(Self.printable(envelope.op))'")
        }
    }

    private func issue(_ request: IssueRequest, tokens: TokenService, caller: Caller) async throws(AuthdError) -> IssueResult {
        try await tokens.waitUntilIssuable(subject: request.subject)
        let result = request.refresh ? try await refresher.issue(request, tokens: tokens) : try tokens.issuer.issue(request)
        logger.info(
            "token issued",
            metadata: [
                AuditEvent.metadataKey: "\(AuditEvent.tokenIssued.messageID)", "authd.op": "issue", "authd.sub": "\(request.subject)", "authd.jti": "\(result.jti)",
                "authd.kid": "\(tokens.activeKeyID)", "authd.roles": "\(request.roles.joined(separator: ","))",
                "authd.exp": "\(result.expiresAt)", "authd.refresh": "\(request.refresh)",
            ].withPeer(caller))
        return result
    }



    private func refresh(_ request: RefreshRequest, tokens: TokenService, caller: Caller) async throws(AuthdError) -> IssueResult {
        do {
            let result = try await refresher.refresh(request, tokens: tokens)
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

    private func revoke(_ request: RevokeRequest, tokens: TokenService, caller: Caller) async throws(AuthdError) -> RevokeResult {
        let result = try await revoker.revoke(request, tokens: tokens)
        var metadata: Logger.Metadata = [
            AuditEvent.metadataKey: "\(AuditEvent.tokenRevoked.messageID)", "authd.op": "revoke", "authd.revoked": "\(result.revoked)",
        ].withPeer(caller)
        switch request.target {
        case .token: metadata["authd.target"] = "token"
        case .refreshToken: metadata["authd.target"] = "refresh_token"
        case .jti(let jti): metadata["authd.jti"] = "\(jti)"
        case .subject(let subject, let before):
            metadata["authd.sub"] = "\(subject)"
            if let before { metadata["authd.before"] = "\(before)" }
        }
        logger.notice("revoked", metadata: metadata)
        return result
    }

    private func verify(_ request: VerifyRequest, tokens: TokenService) throws(AuthdError) -> VerifiedToken {
        do {
            return try tokens.verifier.verifiedToken(request)
        } catch {
            // The token itself is never logged: it is a bearer credential.
            logger.info(
                "verification refused",
                metadata: [
                    AuditEvent.metadataKey: "\(AuditEvent.verificationRefused.messageID)", "authd.op": "verify",
                    "authd.code": "\(error.code)", "authd.reason": "\(error.message)",
                ])
            throw error
        }
    }

    private func status(_ tokens: TokenService) -> StatusResult {
        let counters = tokens.counters
        return StatusResult(
            version: version, uptimeSeconds: Int64((monotonicNanoseconds() - startedAt) / 1_000_000_000),
            activeKid: tokens.activeKeyID, keyIds: tokens.keyIDs, issued: counters.issued,
            verified: counters.verified, rejected: counters.rejected, connections: counters.connections,
            pid: Int64(getpid()))
    }

    /// An op name as it may be echoed: bounded and without control characters.
    static func printable(_ text: String) -> String {
        let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.prefix(64).filter { $0.value >= 0x20 && $0.value != 0x7F }))
        return text.unicodeScalars.count > 64 ? cleaned + "…" : cleaned
    }
}

extension Logger.Metadata {
    /// This metadata with the caller's credentials added (AUTHD_PEER_UID/GID/PID in the journal).
    func withPeer(_ caller: Caller) -> Logger.Metadata {
        var metadata = self
        metadata["authd.peer_uid"] = "\(caller.uid)"
        metadata["authd.peer_gid"] = "\(caller.gid)"
        metadata["authd.peer_pid"] = "\(caller.pid)"
        return metadata
    }
}
