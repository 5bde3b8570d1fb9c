public import AuthdCore
public import Logging

/// The store of a fleet node: the shared PostgreSQL database, with the node's own SQLite database as
/// its local cache of revocations and its outbox.
///
/// A revocation is written to the local cache and published at the same time; it is acknowledged
/// as propagated once committed in PostgreSQL, or as pending once it is in the local outbox (the
/// database unreachable), from which ``FleetFeed`` publishes it when the database returns. Users
/// and refresh-token families live only in PostgreSQL: without it, those ops fail with
/// `fleet_unavailable` and change nothing.
public final class FleetStore: AuthdStore {
    /// The shared database.
    public let database: FleetDatabase
    /// The node's local state.
    public let local: any FleetLocalState
    let publisher: FleetPublisher
    private let outboxReady: Wakeup
    private let clock: any UnixClock

    /// A store over `database`, caching in `local`.
    public init(database: FleetDatabase, local: any FleetLocalState, clock: any UnixClock, logger: Logger) {
        self.database = database
        self.local = local
        self.clock = clock
        self.publisher = FleetPublisher(database: database, logger: logger)
        self.outboxReady = Wakeup()
    }

    /// Wakes the outbox's publisher (the feed runs it).
    var outboxSignal: Wakeup { outboxReady }

    // MARK: Revocations

    @discardableResult
    public func record(_ records: [RevocationRecord]) async throws(StoreError) -> RevocationPropagation {
        let now = clock.now()
        let pending = records.map { PendingRevocation($0, now: now) }
        let local = self.local
        // The local write and the publication run side by side; the reply waits for both.
        async let cached: StoreError? = {
            do throws(StoreError) {
                try await local.applyFeed(records, through: nil)
                return nil
            } catch {
                return error
            }
        }()
        let published = database.health.isConnected ? await publisher.publish(pending) : false
        if let failure = await cached { throw failure }
        if published { return .fleet }
        try await local.enqueue(pending)
        outboxReady.signal()
        return .pending
    }

    public func revocations(now: Int64) async throws(StoreError) -> RevocationSnapshot {
        try await local.appliedState(now: now).revocations
    }

    public func prune(now: Int64) async throws(StoreError) {
        try await local.prune(now: now)
        if database.health.isConnected { try await database.prune(now: now) }
    }

    // MARK: Refresh-token families

    public func createFamily(id: String, grant: RefreshGrant, tokenHash: [UInt8], now: Int64, expiresAt: Int64) async throws(StoreError) {
        try await database.createFamily(id: id, grant: grant, tokenHash: tokenHash, now: now, expiresAt: expiresAt)
    }

    public func rotate(
        presented: [UInt8], successor: [UInt8], now: Int64, successorExpiresAt: Int64, revocationExpiry: Int64
    ) async throws(StoreError) -> RefreshRotation {
        try await database.rotate(
            presented: presented, successor: successor, now: now, successorExpiresAt: successorExpiresAt,
            revocationExpiry: revocationExpiry)
    }

    public func familyID(ofToken hash: [UInt8]) async throws(StoreError) -> String? {
        try await database.familyID(ofToken: hash)
    }

    // MARK: Accounts

    public func user(named username: String) async throws(StoreError) -> UserRecord? {
        try await database.user(named: username)
    }

    public func users() async throws(StoreError) -> [UserRecord] {
        try await database.users()
    }

    public func createUser(_ record: UserRecord) async throws(StoreError) -> Bool {
        try await database.createUser(record)
    }

    public func changeUser(
        _ username: String, _ change: UserChange, revoking revocations: [RevocationRecord], now: Int64
    ) async throws(StoreError) -> UserRecord? {
        try await database.changeUser(username, change, revoking: revocations.map { PendingRevocation($0, now: now) }, now: now)
    }
}
