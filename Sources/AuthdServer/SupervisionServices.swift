public import Logging
public import ServiceLifecycle

/// Keeps the supervisor informed: `STATUS=` every few seconds while serving, `STOPPING=1` as soon
/// as a graceful shutdown begins.
public struct StatusNotificationService: Service, CustomStringConvertible {
    private let notifier: any ServiceNotifier
    private let tokens: CurrentTokens
    private let interval: Duration

    /// Reports the figures of `tokens` through `notifier` every `interval`.
    public init(notifier: any ServiceNotifier, tokens: CurrentTokens, interval: Duration = .seconds(5)) {
        self.notifier = notifier
        self.tokens = tokens
        self.interval = interval
    }

    public var description: String { "StatusNotificationService" }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            guard await sleepUnlessShuttingDown(for: interval) else { break }
            notifier.send([StatusLine.describe(tokens.service)])
        }
        notifier.send(["STOPPING=1", "STATUS=shutting down"])
    }
}

/// Sends `WATCHDOG=1` every half watchdog interval, but only after the server's serving path has
/// answered a probe, so that a wedged daemon falls silent and the supervisor restarts it.
public struct WatchdogService: Service, CustomStringConvertible {
    private let notifier: any ServiceNotifier
    private let server: AuthdServer
    private let interval: Duration
    private let logger: Logger

    /// Keep-alives for `server`, every half of `interval`.
    public init(notifier: any ServiceNotifier, server: AuthdServer, interval: Duration, logger: Logger) {
        self.notifier = notifier
        self.server = server
        self.interval = interval
        self.logger = logger
    }

    public var description: String { "WatchdogService" }

    public func run() async throws {
        let period = interval / 2
        var hasServed = false
        while !Task.isShuttingDownGracefully {
            let healthy = await server.probe()
            if healthy {
                hasServed = true
                notifier.send(["WATCHDOG=1"])
            } else if hasServed {
                logger.warning("health probe failed; withholding the watchdog keep-alive")
            }
            // Until the listener first serves, check again soon rather than a period later.
            let pause = healthy || hasServed ? period : min(period, .milliseconds(50))
            guard await sleepUnlessShuttingDown(for: pause) else { return }
        }
    }
}
