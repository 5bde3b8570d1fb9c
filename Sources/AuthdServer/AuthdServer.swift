public import AuthdCore
import AuthdProtocol
public import Logging
import NIOCore
import NIOPosix
import Synchronization
public import ServiceLifecycle

/// The Unix-socket server: accepts connections and answers each line with ``RequestHandler``.
///
/// It runs as a swift-service-lifecycle `Service`. On graceful shutdown it stops accepting, lets
/// every connection answer the requests it has already read, and returns once they have closed.
public final class AuthdServer: Service, Sendable, CustomStringConvertible {
    /// How the server listens and frames requests.
    public struct Configuration: Sendable {
        /// Where to listen.
        public var address: ListenAddress
        /// The longest request line accepted, in bytes.
        public var maximumLineLength: Int
        /// The mode of a socket file the server binds itself (systemd sets it for inherited sockets).
        public var socketMode: UInt32
        /// Caps on open connections.
        public var limits: ConnectionLimits
        /// A connection that sends nothing for this long is closed; `nil` never.
        public var idleTimeout: Duration?
        /// A request line begun must be finished within this; `nil` never.
        public var lineTimeout: Duration?
        /// Reply bytes queued for a client that does not read before authd stops reading its
        /// requests (the connection's write-buffer high-water mark).
        public var maximumPendingReplyBytes: Int

        /// A configuration.
        public init(
            address: ListenAddress, maximumLineLength: Int = 65_536, socketMode: UInt32 = 0o660,
            limits: ConnectionLimits = ConnectionLimits(), idleTimeout: Duration? = .seconds(600),
            lineTimeout: Duration? = .seconds(10), maximumPendingReplyBytes: Int = 65_536
        ) {
            self.maximumPendingReplyBytes = maximumPendingReplyBytes
            self.address = address
            self.maximumLineLength = maximumLineLength
            self.socketMode = socketMode
            self.limits = limits
            self.idleTimeout = idleTimeout
            self.lineTimeout = lineTimeout
        }
    }

    private let configuration: Configuration
    let handler: RequestHandler
    let counters: AuthdCounters
    private let logger: Logger
    private let eventLoopGroup: MultiThreadedEventLoopGroup
    private let connections: ConnectionRegistry
    private let onReady: @Sendable () async -> Void
    private let state = Mutex(State.initial)

    /// The listener's lifecycle.
    private enum State {
        case initial
        case serving(any Channel)
        case stoppedAccepting
    }

    /// A server answering with `handler`; `onReady` runs once the listener accepts connections.
    public init(
        configuration: Configuration, handler: RequestHandler, counters: AuthdCounters, logger: Logger,
        onReady: @escaping @Sendable () async -> Void = {}
    ) {
        self.configuration = configuration
        self.connections = ConnectionRegistry(limits: configuration.limits)
        self.handler = handler
        self.counters = counters
        self.logger = logger
        self.eventLoopGroup = .singleton
        self.onReady = onReady
    }

    public var description: String { "AuthdServer(\(configuration.address))" }

    public func run() async throws {
        let listener = try await bind()
        let boundSocket = SocketFile.Identity(path: configuration.address)
        defer { boundSocket?.removeIfUnchanged() }
        let accepting = state.withLock { state -> Bool in
            guard case .initial = state else { return false }
            state = .serving(listener.channel)
            return true
        }
        if !accepting { listener.channel.close(promise: nil) }
        logger.notice("authd is listening", metadata: ["authd.socket": "\(configuration.address)"])
        await onReady()
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await listener.executeThenClose { inbound in
                    for try await accepted in inbound {
                        group.addTask { await self.serve(accepted.connection, credentials: accepted.credentials) }
                    }
                }
            }
            // The listener also closes when an idle exit stops accepting: the group's shutdown
            // is then on its way, and returning before it would read as a crash.
            if !Task.isShuttingDownGracefully { try? await gracefulShutdown() }
        } onGracefulShutdown: {
            self.logger.notice("shutting down: finishing requests in flight")
            self.stopAccepting()
            self.connections.quiesce()
        }
        logger.notice("authd stopped")
    }

    /// Closes the listener: no new connections, while open ones carry on until their clients close
    /// them. With socket activation, connections that arrive afterwards wait in systemd's socket
    /// and start the next instance.
    public func stopAccepting() {
        let listener = state.withLock { state -> (any Channel)? in
            defer { state = .stoppedAccepting }
            if case .serving(let channel) = state { return channel }
            return nil
        }
        listener?.close(promise: nil)
    }

    /// Whether the serving path answers: a `ping` goes through the listener's event loop and the
    /// request handler, as a client's would. The watchdog keep-alive is sent only when this passes,
    /// so a wedged daemon stops sending it and systemd restarts it.
    public func probe() async -> Bool {
        guard case .serving(let listener) = state.withLock({ $0 }) else { return false }
        // A hop through the listener's event loop (which also runs the accept loop), then the handler.
        guard (try? await listener.eventLoop.submit({}).get()) != nil else { return false }
        var reply: [UInt8] = []
        await handler.writeReply(to: ByteBuffer(string: #"{"op":"ping"}"#), caller: .daemon, into: &reply)
        return reply.starts(with: #"{"ok":true"#.utf8)
    }

    private typealias Connection = NIOAsyncChannel<[RequestFrame], ByteBuffer>

    /// A connection and what the kernel said about its peer at accept.
    private struct Accepted: Sendable {
        let connection: Connection
        let credentials: PeerCredentials
    }

    private func bind() async throws -> NIOAsyncChannel<Accepted, Never> {
        let maximumLineLength = configuration.maximumLineLength
        let idleTimeout = configuration.idleTimeout.map(TimeAmount.init)
        let lineTimeout = configuration.lineTimeout.map(TimeAmount.init)
        let logger = self.logger
        let handler = self.handler
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            // A client that shuts down its write side after the last request still gets its replies.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            // Past the high-water mark the connection turns unwritable: its task's next write
            // waits, it stops taking requests, and the socket stops being read.
            .childChannelOption(
                .writeBufferWaterMark,
                value: .init(low: configuration.maximumPendingReplyBytes / 2, high: configuration.maximumPendingReplyBytes))
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Accepted> = { channel in
            PeerCredentials.read(from: channel).flatMapThrowing { credentials in
                let timeouts = ReadTimeoutHandler(idleTimeout: idleTimeout, lineTimeout: lineTimeout) { reason in
                    logger.notice(
                        "closing a connection that made no progress",
                        metadata: ["authd.op": "read", "authd.reason": "\(reason)", "authd.peer_uid": "\(credentials.uid)"])
                }
                try channel.pipeline.syncOperations.addHandlers(
                    timeouts, RequestLineHandler(maximumLineLength: maximumLineLength),
                    InlineReplyHandler(handler: handler), RequestBatcher())
                return Accepted(connection: try Connection(wrappingChannelSynchronously: channel), credentials: credentials)
            }
        }
        switch configuration.address.kind {
        case .path(let path):
            try SocketFile.prepare(path: path)
            let listener = try await bootstrap.bind(
                unixDomainSocketPath: path, cleanupExistingSocketFile: false, childChannelInitializer: initializer)
            try SocketFile.restrict(path: path, mode: configuration.socketMode)
            return listener
        case .inherited(let descriptor, _):
            return try await bootstrap.bind(descriptor, childChannelInitializer: initializer)
        case .tcp:
            // Peer credentials, and so the whole policy, need a Unix socket.
            throw StartupError("the line protocol listens on Unix sockets only, not on \(configuration.address)")
        }
    }

    /// Serves one connection until the client closes it, it breaks the protocol, or shutdown.
    /// Errors end only this connection, never the server.
    private func serve(_ connection: Connection, credentials: PeerCredentials) async {
        // Supplementary groups are looked up only when a group grant is consulted (see RequestHandler),
        // so a connection that only verifies costs no user-database look-up.
        let caller = Caller(uid: credentials.uid, gid: credentials.gid, pid: credentials.pid)
        switch connections.register(connection.channel, as: Policy.isPrivileged(caller) ? .privileged : .uid(credentials.uid)) {
        case .admitted: break
        case .shuttingDown: return
        case .refused(let reason, let firstRefusal):
            if firstRefusal {
                logger.warning(
                    "refusing connections: too many", metadata: ["authd.reason": "\(reason)", "authd.peer_uid": "\(credentials.uid)"])
            }
            await refuse(connection, AuthdError(.tooManyConnections, reason))
            return
        }
        // Admitted: from now on the event loop may answer what needs no task (see InlineReplyHandler).
        let channel = connection.channel
        channel.eventLoop.execute {
            (try? channel.pipeline.syncOperations.handler(type: InlineReplyHandler.self))?.admit(caller)
        }
        counters.connectionOpened()
        defer {
            counters.connectionClosed()
            connections.unregister(connection.channel)
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var replies: [UInt8] = []
                for try await batch in inbound {
                    // Replies to one batch go out in one write, in request order.
                    replies.removeAll(keepingCapacity: true)
                    var lines: [ByteBuffer] = []
                    var closing = false
                    for frame in batch {
                        switch frame {
                        case .line(let line):
                            lines.append(line)
                        case .tooLong:
                            // The lines before it are answered; the connection closes after.
                            closing = true
                        }
                        if closing { break }
                    }
                    await handler.writeReplies(to: lines, caller: caller, into: &replies)
                    if closing {
                        logger.notice("request line too long; closing the connection", metadata: ["authd.op": "read"])
                        ReplyEnvelope(
                            id: nil,
                            outcome: .failure(AuthdError(.lineTooLong, "request line exceeds \(configuration.maximumLineLength) bytes"))
                        ).encode(into: &replies)
                        replies.append(UInt8(ascii: "\n"))
                    }
                    try await outbound.write(connection.channel.allocator.buffer(bytes: replies))
                    if closing { return }
                }
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["authd.error": "\(error)"])
        }
    }

    /// Answers a connection that is over a limit with one error line, and closes it.
    private func refuse(_ connection: Connection, _ error: AuthdError) async {
        var line: [UInt8] = []
        ReplyEnvelope(id: nil, outcome: .failure(error)).encode(into: &line)
        line.append(UInt8(ascii: "\n"))
        try? await connection.executeThenClose { _, outbound in
            try await outbound.write(connection.channel.allocator.buffer(bytes: line))
        }
    }
}
