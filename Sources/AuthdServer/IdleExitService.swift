import AuthdCore
import Logging
public import ServiceLifecycle

/// Ends the daemon after a stretch without connections, for socket activation: the socket unit
/// keeps listening and starts authd again on the next connection.
///
/// It stops accepting first and then waits for any connection accepted in the meantime to end, so
/// no client that got through is cut off. Its `run` returning is the signal to shut the group down
/// gracefully (configure it with `successTerminationBehavior: .gracefullyShutdownGroup`).
public struct IdleExitService: Service, CustomStringConvertible {
    private let listeners: [any IdleWatchedListener]
    private let idleLimit: Duration
    private let logger: Logger

    /// Watches `listeners` (the line protocol's, and the HTTP face's when it is on).
    init(listeners: [any IdleWatchedListener], idleLimit: Duration, logger: Logger) {
        self.listeners = listeners
        self.idleLimit = idleLimit
        self.logger = logger
    }

    public var description: String { "IdleExitService" }

    private var open: Int { listeners.reduce(0) { $0 + $1.openConnections } }
    private var accepted: Int { listeners.reduce(0) { $0 + $1.acceptedConnections } }

    public func run() async throws {
        let clock = ContinuousClock()
        let poll = min(.seconds(1), idleLimit / 4)
        var lastAccepted = accepted
        var idleSince = clock.now
        while !Task.isShuttingDownGracefully {
            guard await sleepUnlessShuttingDown(for: poll) else { return }
            let accepted = self.accepted
            if open > 0 || accepted != lastAccepted {
                lastAccepted = accepted
                idleSince = clock.now
                continue
            }
            guard clock.now - idleSince >= idleLimit else { continue }
            logger.notice("no connections for \(idleLimit); exiting until the next connection activates authd again")
            for listener in listeners { listener.stopAccepting() }
            while open > 0 {
                try? await Task.sleep(for: .milliseconds(20))
            }
            return
        }
    }
}

/// A listener whose connections keep authd from exiting idle.
protocol IdleWatchedListener: Sendable {
    /// Connections open now.
    var openConnections: Int { get }
    /// Connections accepted since start (any change is activity).
    var acceptedConnections: Int { get }
    /// Closes the listener: new connections wait in systemd's socket and start the next instance.
    func stopAccepting()
}

extension AuthdServer: IdleWatchedListener {
    var openConnections: Int { Int(counters.connections) }
    var acceptedConnections: Int { Int(counters.accepted) }
}

extension HTTPServer: IdleWatchedListener {
    var openConnections: Int { face.openConnections.count }
    var acceptedConnections: Int { face.openConnections.accepted }
}
