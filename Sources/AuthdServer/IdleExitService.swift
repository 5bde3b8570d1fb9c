public import AuthdCore
public import Logging
public import ServiceLifecycle

/// Ends the daemon after a stretch without connections, for socket activation: the socket unit
/// keeps listening and starts authd again on the next connection.
///
/// It stops accepting first and then waits for any connection accepted in the meantime to end, so
/// no client that got through is cut off. Its `run` returning is the signal to shut the group down
/// gracefully (configure it with `successTerminationBehavior: .gracefullyShutdownGroup`).
public struct IdleExitService: Service, CustomStringConvertible {
    private let server: AuthdServer
    private let counters: AuthdCounters
    private let idleLimit: Duration
    private let logger: Logger

    /// Exits `server` after `idleLimit` with no open connection and none accepted.
    public init(server: AuthdServer, counters: AuthdCounters, idleLimit: Duration, logger: Logger) {
        self.server = server
        self.counters = counters
        self.idleLimit = idleLimit
        self.logger = logger
    }

    public var description: String { "IdleExitService" }

    public func run() async throws {
        let clock = ContinuousClock()
        let poll = min(.seconds(1), idleLimit / 4)
        var lastAccepted = counters.accepted
        var idleSince = clock.now
        while !Task.isShuttingDownGracefully {
            guard await sleepUnlessShuttingDown(for: poll) else { return }
            let accepted = counters.accepted
            if counters.connections > 0 || accepted != lastAccepted {
                lastAccepted = accepted
                idleSince = clock.now
                continue
            }
            guard clock.now - idleSince >= idleLimit else { continue }
            logger.notice("no connections for \(idleLimit); exiting until the next connection activates authd again")
            server.stopAccepting()
            while counters.connections > 0 {
                try? await Task.sleep(for: .milliseconds(20))
            }
            return
        }
    }
}
