public import AuthdCore
public import Logging
public import ServiceLifecycle
import Synchronization

/// Keeps a fleet node's view of every node's keys current, and the fleet's view of its own.
///
/// Every `interval` (and whenever the node reconnects) it publishes the node's public keys and reads
/// every node's. A token with a key id the node does not know makes it read them at once, but at
/// most once per `minimumRefreshInterval`: forged key ids cannot make it hammer the database.
public final class FleetKeyService: Service, Sendable {
    private let database: FleetDatabase
    private let local: any FleetLocalState
    private let tokens: @Sendable () -> TokenService
    private let clock: any UnixClock
    private let interval: Duration
    private let minimumRefreshInterval: Duration
    private let logger: Logger
    /// Reads are numbered; a read installs its keys only if no later read has installed yet, so a
    /// slow read can never replace newer keys with older ones.
    private let generations = Mutex<(started: UInt64, installed: UInt64)>((0, 0))
    /// The read of the keys in flight for an unknown key id, and when the last one finished.
    private let unknownKeyRefresh = Mutex<(running: Task<Bool, Never>?, finishedAt: ContinuousClock.Instant?)>((nil, nil))

    /// A key service for the node of `database`, whose token service in force `tokens` returns.
    public init(
        database: FleetDatabase, local: any FleetLocalState, tokens: @escaping @Sendable () -> TokenService, clock: any UnixClock,
        interval: Duration = .seconds(30), minimumRefreshInterval: Duration = .seconds(3), logger: Logger
    ) {
        self.database = database
        self.local = local
        self.tokens = tokens
        self.clock = clock
        self.interval = interval
        self.minimumRefreshInterval = minimumRefreshInterval
        self.logger = logger
    }

    /// This node's name.
    public var node: String { database.node }

    public func run() async throws {
        var wasConnected = false
        var lastSync: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let connected = database.health.isConnected
            let service = tokens()
            // A key not yet published (made at start or by a reload while the database was away)
            // is published as soon as possible: until then the node does not issue.
            let unpublished = service.activeKeyAwaitsPublication
            let due = unpublished || (lastSync.map { ContinuousClock.now - $0 >= interval } ?? true)
            if connected, !wasConnected || due {
                if await synchronize() { lastSync = .now }
            } else if connected, database.keysChanged.exchange(false, ordering: .relaxed) {
                _ = try? await readPeers(service)
            }
            wasConnected = connected && lastSync != nil
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Publishes this node's keys and reads every node's. Returns whether both succeeded.
    @discardableResult
    public func synchronize() async -> Bool {
        let service = tokens()
        let own = service.publishedKeys(node: database.node)
        do {
            try await database.publish(own)
            service.fleet?.markPublished(own.map(\.kid))
            try await local.markKeysPublished(own.map(\.kid))
            return try await readPeers(service)
        } catch {
            if error.code != .disconnected {
                logger.error("cannot synchronise signing keys with the fleet", metadata: ["authd.reason": "\(error.message)"])
            }
            return false
        }
    }

    /// Reads the fleet's keys now, for a token with an unknown key id, unless a read finished less
    /// than `minimumRefreshInterval` ago. Callers that arrive while a read is in flight wait for
    /// it rather than fail: under load, every verify of a peer's first token after its rotation
    /// succeeds. Returns whether the keys were read.
    public func refreshForUnknownKey() async -> Bool {
        let read = unknownKeyRefresh.withLock { state -> Task<Bool, Never>? in
            if let running = state.running { return running }
            if let finished = state.finishedAt, ContinuousClock.now - finished < minimumRefreshInterval { return nil }
            guard database.health.isConnected else { return nil }
            let task = Task {
                let outcome: Bool
                do throws(StoreError) {
                    outcome = try await self.readPeers(self.tokens())
                } catch {
                    self.logger.warning("cannot read the fleet's keys for an unknown key id", metadata: ["authd.reason": "\(error.message)"])
                    outcome = false
                }
                self.unknownKeyRefresh.withLock { $0 = (nil, ContinuousClock.now) }
                self.logger.debug("read the fleet's keys for an unknown key id", metadata: ["authd.peer_keys": "\(self.tokens().fleet?.peerKeyIDs.count ?? 0)"])
                return outcome
            }
            state.running = task
            return task
        }
        return await read?.value ?? false
    }

    private func readPeers(_ service: TokenService) async throws(StoreError) -> Bool {
        let generation = generations.withLock { state -> UInt64 in
            state.started += 1
            return state.started
        }
        let keys = try await database.publishedKeys(now: clock.now())
        return await install(keys, service: service, generation: generation)
    }

    /// Takes the keys read at start (``FleetDatabase/prepare(publishing:now:)``) as this node's
    /// published keys and every node's.
    public func started(with keys: [PublishedKey]) async {
        let service = tokens()
        let own = service.publishedKeys(node: database.node).map(\.kid)
        service.fleet?.markPublished(own)
        do {
            try await local.markKeysPublished(own)
        } catch {
            logger.error("cannot record the published keys locally", metadata: ["authd.reason": "\(error.message)"])
        }
        let generation = generations.withLock { state -> UInt64 in
            state.started += 1
            return state.started
        }
        _ = await install(keys, service: service, generation: generation)
    }

    private func install(_ keys: [PublishedKey], service: TokenService, generation: UInt64) async -> Bool {
        guard let fleet = service.fleet else { return false }
        let current = generations.withLock { state -> Bool in
            guard generation > state.installed else { return false }
            state.installed = generation
            return true
        }
        // A later read has already installed newer keys.
        guard current else { return true }
        let refused = fleet.installPeers(keys, ownKeyIDs: Set(service.keyIDs))
        do {
            try await local.cachePeerKeys(keys.filter { !refused.contains($0.kid) && !service.keyIDs.contains($0.kid) })
        } catch {
            logger.error("cannot cache the fleet's keys locally", metadata: ["authd.reason": "\(error.message)"])
        }
        for kid in refused {
            logger.error(
                "a key in the fleet database is not a valid public key for its kid; tokens it signed are refused",
                metadata: ["authd.kid": "\(kid)"])
        }
        return true
    }

    /// Publishes a new key of this node before it signs (the key rotation service calls it).
    public func publish(_ keys: [PublishedKey]) async throws(StoreError) {
        try await database.publish(keys)
        try await local.markKeysPublished(keys.map(\.kid))
    }
}
