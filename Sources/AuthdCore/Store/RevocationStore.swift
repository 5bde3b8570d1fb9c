/// A change to the revocation state, written durably before it is acknowledged.
public enum RevocationRecord: Sendable, Hashable {
    /// One token, by its `jti`, remembered until `expiresAt` (after which it is dead anyway).
    case token(jti: String, expiresAt: Int64)
    /// Every token of `subject` issued at or before `before`, remembered until `expiresAt`.
    case subject(String, before: Int64, expiresAt: Int64)
    /// A refresh-token family: its refresh tokens, and every access token minted from it (`sid`).
    case family(String, expiresAt: Int64)
}

/// Everything the store holds about revocations, loaded at start into the in-memory denylist.
public struct RevocationSnapshot: Sendable {
    /// Revoked token ids with their expiry.
    public var tokens: [(jti: String, expiresAt: Int64)] = []
    /// Per-subject "revoked at or before" watermarks with their expiry.
    public var subjects: [(subject: String, before: Int64, expiresAt: Int64)] = []
    /// Revoked refresh-token families (session ids) with their expiry.
    public var families: [(id: String, expiresAt: Int64)] = []

    /// An empty snapshot.
    public init() {}
}

/// Durable storage for revocations. SQLite is the default engine; the protocol keeps the rest of
/// authd independent of it, so another engine (PostgreSQL, say) can take its place.
///
/// `record(_:)` returns only after the change is on disk: a crash at any later instant loses
/// nothing it acknowledged. Implementations batch concurrent writes into one transaction.
public protocol RevocationStore: Sendable {
    /// Writes `records` durably, in one transaction.
    func record(_ records: [RevocationRecord]) async throws(StoreError)
    /// Everything still in force at `now`.
    func load(now: Int64) throws(StoreError) -> RevocationSnapshot
    /// Deletes entries that expired before `now`, and keeps the files bounded.
    func prune(now: Int64) async throws(StoreError)
}
