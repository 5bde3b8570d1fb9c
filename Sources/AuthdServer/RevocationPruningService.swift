public import AuthdCore
public import Logging
public import ServiceLifecycle

/// Forgets revocations whose tokens have all expired, in the store and in memory, and keeps the
/// database's write-ahead log bounded. A failure is logged and retried at the next round; it never
/// drops a revocation that is still needed.
public struct RevocationPruningService: Service, CustomStringConvertible {
    private let store: any AuthdStore
    private let denylist: Denylist
    private let clock: any UnixClock
    private let interval: Duration
    private let logger: Logger

    /// Prunes every `interval`.
    public init(
        store: any AuthdStore, denylist: Denylist, clock: any UnixClock = SystemUnixClock(),
        interval: Duration = .seconds(600), logger: Logger
    ) {
        self.store = store
        self.denylist = denylist
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public var description: String { "RevocationPruningService" }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            guard await sleepUnlessShuttingDown(for: interval) else { return }
            let now = clock.now()
            do {
                try await store.prune(now: now)
                denylist.prune(now: now)
            } catch {
                logger.warning("pruning expired revocations failed; will retry", metadata: ["authd.error": "\(error)"])
            }
        }
    }
}
