public import AuthdProtocol

/// A stored account: what ``UserInfo`` shows, plus the password hash.
public struct UserRecord: Sendable, Hashable {
    /// The login name.
    public var username: String
    /// The argon2id hash in PHC format.
    public var passwordHash: String
    /// Roles for the user's tokens.
    public var roles: [String]
    /// Whether logins are refused.
    public var disabled: Bool
    /// Creation time, Unix seconds.
    public var createdAt: Int64
    /// Last change, Unix seconds.
    public var updatedAt: Int64

    /// A record.
    public init(username: String, passwordHash: String, roles: [String], disabled: Bool, createdAt: Int64, updatedAt: Int64) {
        self.username = username
        self.passwordHash = passwordHash
        self.roles = roles
        self.disabled = disabled
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The account without its hash, as admin ops report it.
    public var info: UserInfo {
        UserInfo(username: username, roles: roles, disabled: disabled, createdAt: createdAt, updatedAt: updatedAt)
    }
}

/// A change to an existing account.
public enum UserChange: Sendable, Hashable {
    /// A new password hash (PHC string).
    case password(hash: String)
    /// New roles.
    case roles([String])
    /// Logins refused (`true`) or allowed again.
    case disabled(Bool)
    /// The account is removed.
    case delete
}
