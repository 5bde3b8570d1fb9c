/// A revocation as one flat row, the form both engines store it in: a kind number, the revoked
/// value (jti, subject or family id), the subject's cut-off (0 for other kinds) and the expiry.
public struct RevocationRow: Sendable, Hashable {
    /// 1 token, 2 subject, 3 family. Stored: never renumber.
    public var kind: Int64
    /// The jti, subject or family id.
    public var value: String
    /// For a subject: tokens issued at or before this second are revoked. 0 otherwise.
    public var before: Int64
    /// When the revocation may be forgotten.
    public var expiresAt: Int64

    /// A row from its columns.
    public init(kind: Int64, value: String, before: Int64, expiresAt: Int64) {
        self.kind = kind
        self.value = value
        self.before = before
        self.expiresAt = expiresAt
    }

    /// The row of `record`.
    public init(_ record: RevocationRecord) {
        switch record {
        case .token(let jti, let expiresAt): self.init(kind: 1, value: jti, before: 0, expiresAt: expiresAt)
        case .subject(let subject, let before, let expiresAt): self.init(kind: 2, value: subject, before: before, expiresAt: expiresAt)
        case .family(let id, let expiresAt): self.init(kind: 3, value: id, before: 0, expiresAt: expiresAt)
        }
    }

    /// The record, or `nil` for an unknown kind (a damaged row: the caller reports it).
    public var record: RevocationRecord? {
        switch kind {
        case 1: .token(jti: value, expiresAt: expiresAt)
        case 2: .subject(value, before: before, expiresAt: expiresAt)
        case 3: .family(value, expiresAt: expiresAt)
        default: nil
        }
    }
}
