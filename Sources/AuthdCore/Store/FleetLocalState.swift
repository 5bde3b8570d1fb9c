/// A fleet node's own durable state, kept on its disk beside the shared database.
///
/// It holds the revocations the node has applied and the feed position they reach, so that a node
/// restarted while the shared database is down still enforces every revocation it had seen; and
/// the revocations the node made but has not yet published (its outbox), so that a revoke
/// acknowledged during an outage reaches the fleet when the database returns.
///
/// Every write is durable when it returns.
public protocol FleetLocalState: Sendable {
    /// Every applied revocation still in force at `now` (the node's own included), and the
    /// sequence number of the last feed event applied.
    func appliedState(now: Int64) async throws(StoreError) -> (revocations: RevocationSnapshot, sequence: Int64)

    /// Records revocations in force here: read from the feed up to and including the event
    /// `sequence`, or (`nil`) made on this node, which leaves the feed position as it is.
    func applyFeed(_ records: [RevocationRecord], through sequence: Int64?) async throws(StoreError)

    /// Records revocations made on this node, in force here at once and marked unpublished.
    func enqueue(_ revocations: [PendingRevocation]) async throws(StoreError)

    /// Revocations made here that are not yet known to be in the shared database, oldest first.
    func unpublished(limit: Int) async throws(StoreError) -> [PendingRevocation]

    /// Marks these (by ``PendingRevocation/id``) as committed in the shared database.
    func markPublished(_ ids: [String]) async throws(StoreError)

    /// Deletes what expired before `now`.
    func prune(now: Int64) async throws(StoreError)

    /// Ids of this node's keys known to be committed in the shared database, so that a node
    /// restarted while the database is down keeps issuing with a key the fleet knows.
    func publishedKeyIDs() async throws(StoreError) -> Set<String>

    /// Records that these keys are committed in the shared database.
    func markKeysPublished(_ kids: [String]) async throws(StoreError)

    /// The other nodes' keys as last read from the shared database.
    func cachedPeerKeys() async throws(StoreError) -> [PublishedKey]

    /// Replaces the cached keys of other nodes with `keys`.
    func cachePeerKeys(_ keys: [PublishedKey]) async throws(StoreError)
}

/// A revocation made on this node, with the id that makes publishing it idempotent: a node that
/// cannot tell whether a publication committed publishes it again, and the database keeps one.
public struct PendingRevocation: Sendable, Hashable {
    /// Unique across the fleet (128 random bits, base64url).
    public var id: String
    /// What is revoked.
    public var record: RevocationRecord
    /// When it was made, Unix seconds.
    public var createdAt: Int64

    /// A pending revocation.
    public init(id: String, record: RevocationRecord, createdAt: Int64) {
        self.id = id
        self.record = record
        self.createdAt = createdAt
    }

    /// A new one with a fresh random id.
    public init(_ record: RevocationRecord, now: Int64) {
        self.init(id: Base64URL.encode(secureRandomBytes(16)), record: record, createdAt: now)
    }
}

/// Where a revocation has reached when ``AuthdStore/record(_:)`` returns.
public enum RevocationPropagation: Sendable, Hashable {
    /// On this host's disk; there is no fleet to tell.
    case local
    /// Committed in the fleet's shared database: every node will enforce it.
    case fleet
    /// On this host's disk and enforced here, but the fleet database could not be reached: it is
    /// published when the database returns.
    case pending
}
