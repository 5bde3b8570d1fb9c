import AuthdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// authd's HTTP face: HTTP/1.1 on Unix sockets (bound here or passed by systemd as `http`) and on
/// loopback TCP addresses, answering with ``HTTPFace``.
///
/// Keep-alive and pipelining are served one request at a time per connection, in order. The
/// requests proxies send on every request are read and answered on the event loop by
/// ``HTTPShortcutHandler``; any other goes through NIO's decoder to the connection's task. Heads
/// are bounded (`max_header_bytes`, 128 fields), bodies by ``Configuration/maximumBodyBytes`` (413);
/// a malformed request gets NIO's 400 and its connection is closed. The `[server]` timeouts and
/// its total connection limit apply, counted apart from the line protocol's connections; the
/// per-uid limit does not (a proxy is one uid with many connections).
public final class HTTPServer: Service, Sendable, CustomStringConvertible {
    /// Where and how the face listens.
    public struct Configuration: Sendable {
        /// The listeners.
        public var addresses: [ListenAddress]
        /// The mode of the Unix socket files the server binds itself.
        public var socketMode: UInt32
        /// Caps on open connections.
        public var limits: ConnectionLimits
        /// A connection that sends nothing for this long is closed; `nil` never.
        public var idleTimeout: Duration?
        /// A request begun must be received and answered within this; `nil` never.
        public var requestTimeout: Duration?
        /// The longest request head, in bytes.
        public var maximumHeaderBytes: Int
        /// The longest request body, in bytes (read and discarded).
        public var maximumBodyBytes: Int

        /// A configuration.
        public init(
            addresses: [ListenAddress], socketMode: UInt32 = 0o660, limits: ConnectionLimits = ConnectionLimits(),
            idleTimeout: Duration? = .seconds(600), requestTimeout: Duration? = .seconds(10), maximumHeaderBytes: Int = 16_384,
            maximumBodyBytes: Int = 16_384
        ) {
            self.addresses = addresses
            self.socketMode = socketMode
            self.limits = limits
            self.idleTimeout = idleTimeout
            self.requestTimeout = requestTimeout
            self.maximumHeaderBytes = maximumHeaderBytes
            self.maximumBodyBytes = maximumBodyBytes
        }
    }

    /// The most header fields a request may have.
    private static let maximumHeaderFields = 128

    private typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    private typealias Listener = NIOAsyncChannel<Accepted, Never>

    private struct Accepted: Sendable {
        let connection: Connection
    }

    /// The listeners' lifecycle.
    private enum State {
        case initial
        case serving([any Channel])
        case stopped
    }

    private let configuration: Configuration
    let face: HTTPFace
    private let logger: Logger
    private let connections: ConnectionRegistry
    private let state = Mutex(State.initial)
    private let malformed = Mutex<(lastLogged: ContinuousClock.Instant?, unlogged: Int)>((nil, 0))

    init(configuration: Configuration, face: HTTPFace, logger: Logger) {
        self.configuration = configuration
        self.face = face
        self.logger = logger
        self.connections = ConnectionRegistry(limits: configuration.limits)
    }

    public var description: String { "HTTPServer(\(configuration.addresses.map(\.description).joined(separator: ", ")))" }

    public func run() async throws {
        var listeners: [Listener] = []
        var boundSockets: [SocketFile.Identity] = []
        defer { for socket in boundSockets { socket.removeIfUnchanged() } }
        for address in configuration.addresses {
            let listener: Listener
            do {
                listener = try await bind(address)
            } catch let error as StartupError {
                throw error
            } catch {
                // authd exits 78 with this, as for any other setting it cannot honour.
                throw StartupError("cannot serve HTTP on \(address) (http.listen): \(error)")
            }
            listeners.append(listener)
            if let identity = SocketFile.Identity(path: address) { boundSockets.append(identity) }
        }
        let accepting = state.withLock { state -> Bool in
            guard case .initial = state else { return false }
            state = .serving(listeners.map(\.channel))
            return true
        }
        if !accepting { for listener in listeners { listener.channel.close(promise: nil) } }
        logger.notice("authd's HTTP face is listening", metadata: ["authd.http": "\(configuration.addresses.map(\.description))"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for listener in listeners {
                    group.addTask { await self.accept(on: listener) }
                }
            }
            // The listeners also close when an idle exit stops accepting: the group's shutdown is
            // then on its way, and returning before it would read as a crash.
            if !Task.isShuttingDownGracefully { try? await gracefulShutdown() }
        } onGracefulShutdown: {
            self.stopAccepting()
            self.connections.quiesce()
        }
    }

    private func accept(on listener: Listener) async {
        do {
            try await withThrowingDiscardingTaskGroup { group in
                try await listener.executeThenClose { inbound in
                    for try await accepted in inbound {
                        group.addTask { await self.serve(accepted) }
                    }
                }
            }
        } catch {
            logger.error("the HTTP listener failed", metadata: ["authd.error": "\(error)"])
        }
    }

    /// Closes the listeners; open connections finish the request in hand and close.
    func stopAccepting() {
        let listeners = state.withLock { state -> [any Channel] in
            defer { state = .stopped }
            if case .serving(let channels) = state { return channels }
            return []
        }
        for listener in listeners { listener.close(promise: nil) }
    }

    private func bind(_ address: ListenAddress) async throws -> Listener {
        let configuration = self.configuration
        let logger = self.logger
        let face = self.face
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Accepted> = { channel in
            channel.eventLoop.makeCompletedFuture {
                let timeouts = ReadTimeoutHandler(
                    idleTimeout: configuration.idleTimeout.map(TimeAmount.init), lineTimeout: configuration.requestTimeout.map(TimeAmount.init),
                    framing: .answeredRequests
                ) { reason in
                    logger.notice("closing an HTTP connection that made no progress", metadata: ["authd.reason": "\(reason)"])
                }
                var limits = NIOHTTPDecoderLimitConfiguration()
                limits.maxHeaderListSize = configuration.maximumHeaderBytes
                limits.maxHeaderFieldSize = configuration.maximumHeaderBytes
                limits.maxHeaderFieldCount = Self.maximumHeaderFields
                // NIO's HTTP handlers join when the shortcut first needs them.
                try channel.pipeline.syncOperations.addHandlers(timeouts, HTTPShortcutHandler(face: face, decoderLimits: limits))
                return Accepted(connection: try Connection(wrappingChannelSynchronously: channel))
            }
        }
        switch address.kind {
        case .path(let path):
            try SocketFile.prepare(path: path)
            let listener = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false, childChannelInitializer: initializer)
            try SocketFile.restrict(path: path, mode: configuration.socketMode)
            return listener
        case .inherited(let descriptor, _):
            return try await bootstrap.bind(descriptor, childChannelInitializer: initializer)
        case .tcp(let host, let port):
            return try await bootstrap.bind(host: host, port: port, childChannelInitializer: initializer)
        }
    }

    private func serve(_ accepted: Accepted) async {
        let connection = accepted.connection
        // Only the total counts: a reverse proxy is one uid with as many connections as requests
        // in flight, and the face is read-only.
        switch connections.register(connection.channel, as: .anyone) {
        case .admitted: break
        case .shuttingDown:
            try? await connection.channel.close()
            return
        case .refused(let reason, let firstRefusal):
            Self.onShortcut(of: connection.channel) { $0.refuse() }
            if firstRefusal { logger.warning("refusing HTTP connections: too many", metadata: ["authd.reason": "\(reason)"]) }
            // HTTP answers requests, not connections: the 503 waits for the first request (the
            // request timeout bounds the wait), then the connection closes.
            try? await connection.executeThenClose { inbound, outbound in
                for try await part in inbound {
                    guard case .end = part else { continue }
                    try await self.write(HTTPReply.text(.serviceUnavailable, reason), keepAlive: false, headOnly: false, to: outbound)
                    return
                }
            }
            return
        }
        // Admitted: from now on the event loop may answer what needs no task (see HTTPShortcutHandler).
        Self.onShortcut(of: connection.channel) { $0.admit() }
        face.openConnections.opened()
        defer {
            face.openConnections.closed()
            connections.unregister(connection.channel)
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var bodyBytes = 0
                for try await part in inbound {
                    switch part {
                    case .head(let received):
                        head = received
                        bodyBytes = 0
                    case .body(let buffer):
                        bodyBytes += buffer.readableBytes
                        if bodyBytes > self.configuration.maximumBodyBytes {
                            let reply = HTTPReply.text(.payloadTooLarge, "request body over \(self.configuration.maximumBodyBytes) bytes")
                            try await self.write(reply, keepAlive: false, headOnly: false, to: outbound)
                            return
                        }
                    case .end:
                        guard let request = head else { continue }
                        head = nil
                        let reply = await self.face.reply(method: request.method, uri: request.uri, headers: request.headers)
                        self.face.record(uri: request.uri, status: reply.status)
                        let keepAlive = request.isKeepAlive
                        try await self.write(reply, keepAlive: keepAlive, headOnly: request.method == .HEAD, to: outbound)
                        if !keepAlive { return }
                    }
                }
            }
        } catch let error as HTTPParserError {
            // NIO's error handler has answered 400 and closes the connection.
            logMalformed(error)
        } catch {
            logger.debug("HTTP connection ended with an error", metadata: ["authd.error": "\(error)"])
        }
    }

    private static func onShortcut(of channel: any Channel, _ body: @escaping @Sendable (HTTPShortcutHandler) -> Void) {
        channel.eventLoop.execute {
            if let shortcut = try? channel.pipeline.syncOperations.handler(type: HTTPShortcutHandler.self) { body(shortcut) }
        }
    }

    private func write(
        _ reply: HTTPReply, keepAlive: Bool, headOnly: Bool, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws {
        try await outbound.write(contentsOf: reply.responseParts(keepAlive: keepAlive, headOnly: headOnly))
    }

    /// Malformed requests are logged at most once a minute, with how many went unlogged: a broken
    /// or hostile client must not be able to flood the journal.
    private func logMalformed(_ error: HTTPParserError) {
        let unlogged = malformed.withLock { state -> Int? in
            let now = ContinuousClock.now
            if let last = state.lastLogged, now - last < .seconds(60) {
                state.unlogged += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.unlogged
        }
        guard let unlogged else { return }
        logger.notice(
            "malformed HTTP request answered 400", metadata: ["authd.reason": "\(error)", "authd.unlogged_since_last": "\(unlogged)"])
    }
}
