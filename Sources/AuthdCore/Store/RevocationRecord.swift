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
    public var tokens = RevokedTokenTable()
    /// Per-subject "revoked at or before" watermarks with their expiry.
    public var subjects: [(subject: String, before: Int64, expiresAt: Int64)] = []
    /// Revoked refresh-token families (session ids) with their expiry.
    public var families: [(id: String, expiresAt: Int64)] = []

    /// An empty snapshot.
    public init() {}
}
