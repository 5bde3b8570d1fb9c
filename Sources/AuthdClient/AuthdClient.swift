// The wire types (requests, results, claims, errors) are the client's vocabulary: a service
// imports AuthdClient alone. The codec in AuthdProtocol is `package`, so it is not among them.
@_exported public import AuthdProtocol
import NIOCore
import NIOPosix
import Synchronization

/// A client for the authd daemon, for the services of a host.
///
/// One client keeps one Unix-socket connection and shares it between concurrent callers by
/// pipelining: requests are written as they come and replies matched in order. If the daemon
/// restarts, the next call connects again; a call whose connection died before its reply is
/// retried once on a new connection when its op is idempotent (`verify`, `jwks`, `status`, `ping`).
///
/// Every failure is an ``AuthdError``: the daemon's own code (`invalid_token`, `insufficient_role`,
/// …) or ``AuthdError/Code/daemonUnreachable`` when it could not be asked.
///
/// ```swift
/// let client = AuthdClient(socketPath: "/run/authd/authd.sock")
/// let claims = try await client.verify(token: bearer, rolesAny: ["admin"])
/// ```
public final class AuthdClient: Sendable {
    /// How to reach the daemon.
    public struct Configuration: Sendable {
        /// The daemon's socket.
        public var socketPath: String
        /// How long to wait for a reply before giving up on the connection.
        public var requestTimeout: Duration

        /// A configuration; the timeout defaults to 10 seconds.
        public init(socketPath: String, requestTimeout: Duration = .seconds(10)) {
            self.socketPath = socketPath
            self.requestTimeout = requestTimeout
        }
    }

    /// The socket used when none is named: `$AUTHD_SOCKET`, else `/run/authd/authd.sock`.
    public static var defaultSocketPath: String {
        if let path = getenvString("AUTHD_SOCKET"), !path.isEmpty { return path }
        return "/run/authd/authd.sock"
    }

    private let configuration: Configuration
    private let eventLoopGroup: MultiThreadedEventLoopGroup = .singleton
    private let connection = Mutex(ConnectionSlot())

    /// The current connection: the attempt in progress, and the channel once it has connected.
    private struct ConnectionSlot {
        var future: EventLoopFuture<any Channel>?
        var channel: (any Channel)?
    }

    /// A client for the daemon at `socketPath`. No connection is made until the first call.
    public convenience init(socketPath: String = AuthdClient.defaultSocketPath) {
        self.init(configuration: Configuration(socketPath: socketPath))
    }

    /// A client with explicit settings.
    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    deinit {
        connection.withLock { $0.future }?.whenSuccess { $0.close(promise: nil) }
    }

    /// Closes the connection. Calls made afterwards connect again.
    public func close() async {
        let current = connection.withLock { slot in
            defer { slot = ConnectionSlot() }
            return slot.future
        }
        guard let channel = try? await current?.get() else { return }
        try? await channel.close()
    }

    // MARK: Operations

    /// Sends any operation and returns its typed result.
    package func send<Operation: AuthdOperation>(_ operation: Operation) async throws(AuthdError) -> Operation.Result {
        let line = RequestEnvelope(op: Operation.op, fields: operation.fields).encoded()
        let replyLine: ByteBuffer
        do {
            replyLine = try await roundTrip(line)
        } catch where error.code == .daemonUnreachable && Operation.isIdempotent {
            replyLine = try await roundTrip(line)
        }
        let reply = try replyLine.withUnsafeReadableBytes { bytes throws(AuthdError) in
            try ReplyEnvelope.parse(UnsafeRawBufferPointer(bytes))
        }
        return try Operation.Result(result: reply.outcome.get())
    }

    /// Issues an access token for `subject`.
    /// With `refresh`, the result also carries a refresh token for ``refresh(_:)``.
    public func issue(
        subject: String, roles: [String] = [], audience: [String]? = nil, ttl: Int64? = nil, claims: JSONObject = [:],
        refresh: Bool = false
    ) async throws(AuthdError) -> IssueResult {
        try await send(IssueRequest(subject: subject, roles: roles, audience: audience, ttl: ttl, claims: claims, refresh: refresh))
    }

    /// Exchanges a refresh token for a new access token and a new refresh token; the old one is spent.
    /// Presenting a spent one again throws `refresh_reused` and revokes the whole session.
    public func refresh(_ refreshToken: String) async throws(AuthdError) -> IssueResult {
        try await send(RefreshRequest(refreshToken: refreshToken))
    }

    /// Verifies `token`, optionally requiring roles. Throws `insufficient_role` for a good token
    /// without the role (answer 403), and another code for a bad token (answer 401).
    public func verify(
        token: String, audience: String? = nil, rolesAny: [String]? = nil, rolesAll: [String]? = nil
    ) async throws(AuthdError) -> VerifyResult {
        try await send(VerifyRequest(token: token, audience: audience, rolesAny: rolesAny, rolesAll: rolesAll))
    }

    /// Revokes a token, a token id, or every token of a subject issued at or before a time.
    /// Returns once the revocation is on disk; `verify` refuses the token from then on.
    public func revoke(_ target: RevokeRequest.Target) async throws(AuthdError) -> RevokeResult {
        try await send(RevokeRequest(target))
    }

    /// The check a service runs on every request: the `Authorization` header's bearer token, verified,
    /// with the roles the endpoint needs.
    ///
    /// ```swift
    /// let check = await authd.authorize(bearer: request.headers["Authorization"], requireAnyRole: ["admin"])
    /// guard let claims = check.claims else {
    ///     return Response(status: check.httpStatus)   // 401 bad token, 403 no role, 503 authd unreachable
    /// }
    /// return serve(claims.subject)
    /// ```
    public func authorize(
        bearer authorizationHeader: String?, requireAnyRole roles: [String]? = nil, audience: String? = nil
    ) async -> Authorization {
        guard let header = authorizationHeader, let token = Self.bearerToken(header) else {
            return .refused(.unauthenticated, AuthdError(.invalidToken, "no bearer token"))
        }
        do {
            return .authorized(try await verify(token: token, audience: audience, rolesAny: roles))
        } catch {
            switch error.code {
            case .insufficientRole: return .refused(.forbidden, error)
            case .daemonUnreachable, .internalError, .storageFailure, .fleetUnavailable: return .refused(.unavailable, error)
            default: return .refused(.unauthenticated, error)
            }
        }
    }

    /// `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1), or `nil`.
    static func bearerToken(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: " ")
        return token.isEmpty || token.contains(" ") ? nil : token
    }

    /// The public keys that verify authd's tokens.
    public func jwks() async throws(AuthdError) -> JWKSResult { try await send(JWKSRequest()) }

    /// The daemon's version, uptime, keys and counters.
    public func status() async throws(AuthdError) -> StatusResult { try await send(StatusRequest()) }

    /// Checks that the daemon answers.
    public func ping() async throws(AuthdError) { _ = try await send(PingRequest()) }

    // MARK: Connection

    private func roundTrip(_ line: [UInt8]) async throws(AuthdError) -> ByteBuffer {
        let channel = try await activeChannel()
        var buffer = channel.allocator.buffer(capacity: line.count + 1)
        buffer.writeBytes(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let limit = configuration.requestTimeout
        let timeout = channel.eventLoop.scheduleTask(in: .nanoseconds(limit.nanoseconds)) {
            // Replies come in order, so one lost reply misaligns every later one: drop the connection.
            promise.fail(AuthdError(.daemonUnreachable, "no reply from authd within \(limit)"))
            channel.close(promise: nil)
        }
        channel.writeAndFlush((buffer, promise), promise: nil)
        do {
            let reply = try await promise.futureResult.get()
            timeout.cancel()
            return reply
        } catch {
            timeout.cancel()
            forget(channel)
            throw error as? AuthdError ?? AuthdError(.daemonUnreachable, "\(error)")
        }
    }

    /// The open connection, or a new one if there is none or the old one has closed.
    private func activeChannel(attempt: Int = 0) async throws(AuthdError) -> any Channel {
        let future = connection.withLock { slot -> EventLoopFuture<any Channel> in
            if let current = slot.future { return current }
            let fresh = connect()
            slot = ConnectionSlot(future: fresh, channel: nil)
            return fresh
        }
        do {
            let channel = try await future.get()
            connection.withLock { slot in
                if slot.future === future { slot.channel = channel }
            }
            if channel.isActive { return channel }
            // The daemon closed an idle connection (it restarted, say): connect again.
            forget(channel)
            guard attempt == 0 else {
                throw AuthdError(.daemonUnreachable, "authd at \(configuration.socketPath) closed the connection")
            }
            return try await activeChannel(attempt: attempt + 1)
        } catch let error as AuthdError {
            throw error
        } catch {
            connection.withLock { slot in
                if slot.future === future { slot = ConnectionSlot() }
            }
            throw ConnectFailure.error(error, socketPath: configuration.socketPath)
        }
    }

    private func forget(_ channel: any Channel) {
        connection.withLock { slot in
            if let stored = slot.channel, stored === channel { slot = ConnectionSlot() }
        }
        channel.close(promise: nil)
    }

    private func connect() -> EventLoopFuture<any Channel> {
        ClientBootstrap(group: eventLoopGroup)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ReplyLineDecoder()), ReplyPipelineHandler())
                }
            }
            .connect(unixDomainSocketPath: configuration.socketPath)
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// The outcome of ``AuthdClient/authorize(bearer:requireAnyRole:audience:)``, shaped like the HTTP
/// answer a service gives: ``claims`` when the request may be served, else ``httpStatus`` says
/// which refusal (401, 403 or 503) and ``error`` why.
///
/// A struct, so that a later outcome is not a breaking change: switch over ``outcome`` with a
/// `default`, or just use ``claims`` and ``httpStatus``.
public struct Authorization: Sendable {
    /// The kind of answer.
    public struct Outcome: Sendable, Hashable, CustomStringConvertible {
        /// Its name.
        public let name: String
        /// The HTTP status it maps to.
        public let httpStatus: Int

        private init(_ name: String, _ httpStatus: Int) {
            self.name = name
            self.httpStatus = httpStatus
        }

        /// The token is good and has a required role: serve the request (200).
        public static let authorized = Outcome("authorized", 200)
        /// No token, or a bad one (invalid, expired, revoked, wrong audience): 401.
        public static let unauthenticated = Outcome("unauthenticated", 401)
        /// A good token without the required role: 403.
        public static let forbidden = Outcome("forbidden", 403)
        /// authd could not answer: fail closed, 503.
        public static let unavailable = Outcome("unavailable", 503)

        public var description: String { name }
    }

    /// The kind of answer.
    public let outcome: Outcome
    /// The verified claims, when the outcome is ``Outcome/authorized``.
    public let claims: VerifyResult?
    /// Why the request is refused, for any other outcome.
    public let error: AuthdError?

    /// The HTTP status the outcome maps to.
    public var httpStatus: Int { outcome.httpStatus }

    static func authorized(_ claims: VerifyResult) -> Authorization { Authorization(outcome: .authorized, claims: claims, error: nil) }

    static func refused(_ outcome: Outcome, _ error: AuthdError) -> Authorization {
        Authorization(outcome: outcome, claims: nil, error: error)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        var view = self
        while view.first == character { view.removeFirst() }
        while view.last == character { view.removeLast() }
        return String(view)
    }
}
