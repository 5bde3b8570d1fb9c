import Synchronization

/// How a fleet node stands with the shared database: connected or not, how far it has applied the
/// revocation feed, and how old its view of the fleet is.
///
/// The fleet engine updates it; `status`, `STATUS=`, the journal and `verify` (with
/// `on_stale = "refuse"`) read it. A node is *stale* once it has not caught up with the feed for
/// longer than `max_staleness`: it may be missing revocations made elsewhere since.
public final class FleetHealth: Sendable {
    /// A snapshot.
    public struct Snapshot: Sendable, Hashable {
        /// Whether the node holds a live connection to the database.
        public var connected: Bool
        /// The sequence number of the last revocation event applied.
        public var appliedSequence: Int64
        /// Seconds since the node last caught up with the feed.
        public var staleness: Int64
        /// Whether ``staleness`` exceeds `max_staleness`.
        public var isStale: Bool
    }

    private struct State {
        var connected = false
        var appliedSequence: Int64 = 0
        var lastCaughtUp: Int64
    }

    /// This node's name in the fleet.
    public let node: String
    /// `max_staleness`, seconds.
    public let maximumStaleness: Int64
    /// `on_stale`.
    public let onStale: FleetConfiguration.StalePolicy
    private let clock: any UnixClock
    private let state: Mutex<State>

    /// The health of a node that has not yet reached the database: its view dates from `now`
    /// (what it loaded from its local cache), so it turns stale only after `maximumStaleness`.
    public init(configuration: FleetConfiguration, appliedSequence: Int64, clock: any UnixClock) {
        self.node = configuration.node
        self.maximumStaleness = configuration.maximumStaleness
        self.onStale = configuration.onStale
        self.clock = clock
        self.state = Mutex(State(appliedSequence: appliedSequence, lastCaughtUp: clock.now()))
    }

    /// The state now.
    public var snapshot: Snapshot {
        let now = clock.now()
        let snapshot = state.withLock { state in
            let staleness = max(0, now - state.lastCaughtUp)
            return Snapshot(
                connected: state.connected, appliedSequence: state.appliedSequence, staleness: staleness,
                isStale: staleness > maximumStaleness)
        }
        refusing.store(onStale == .refuse && snapshot.isStale, ordering: .relaxed)
        return snapshot
    }

    /// Whether the node is connected now.
    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Whether other nodes' tokens must be refused now (`on_stale = "refuse"` and stale). A flag
    /// read on every verify of a peer's token, kept current by ``snapshot`` (which the fleet
    /// engine reads twice a second) and by ``caughtUp(through:)``.
    public var refusesPeerTokens: Bool { refusing.load(ordering: .relaxed) }
    private let refusing = Atomic<Bool>(false)

    /// The feed was read to its end, through event `sequence`, at the current time.
    public func caughtUp(through sequence: Int64) {
        let now = clock.now()
        state.withLock { state in
            state.connected = true
            state.appliedSequence = max(state.appliedSequence, sequence)
            state.lastCaughtUp = now
        }
        refusing.store(false, ordering: .relaxed)
    }

    /// The position read from the local cache at start.
    public func restore(appliedSequence: Int64) {
        state.withLock { $0.appliedSequence = max($0.appliedSequence, appliedSequence) }
    }

    /// The database answered (at start, before the feed has caught up): ops may use it.
    public func reachable() { state.withLock { $0.connected = true } }

    /// The connection was lost or could not be made.
    public func disconnected() { state.withLock { $0.connected = false } }
}
