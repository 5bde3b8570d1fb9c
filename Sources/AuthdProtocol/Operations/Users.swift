/// A user account as admin ops report it. The password hash never leaves the daemon.
public struct UserInfo: Sendable, Hashable {
    /// The login name.
    public var username: String
    /// The roles put into the user's tokens at login.
    public var roles: [String]
    /// Whether logins are refused.
    public var disabled: Bool
    /// When the account was created, Unix seconds.
    public var createdAt: Int64
    /// When the account last changed, Unix seconds.
    public var updatedAt: Int64

    /// A user.
    public init(username: String, roles: [String], disabled: Bool, createdAt: Int64, updatedAt: Int64) {
        self.username = username
        self.roles = roles
        self.disabled = disabled
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    init(object: JSONObject) throws(AuthdError) {
        var reader = FieldReader.result(object)
        username = try reader.string("username")
        roles = try reader.optionalStringArray("roles") ?? []
        disabled = try reader.optionalBool("disabled") ?? false
        createdAt = try reader.int("created_at")
        updatedAt = try reader.int("updated_at")
    }

    var object: JSONObject {
        [
            "username": .string(username), "roles": .strings(roles), "disabled": .bool(disabled),
            "created_at": .int(createdAt), "updated_at": .int(updatedAt),
        ]
    }
}

/// The result of an admin op on one user: the account as it is now (for `user_delete`, as it was).
public struct UserResult: AuthdOperationResult, Hashable {
    /// The account.
    public var user: UserInfo

    /// A result.
    public init(user: UserInfo) { self.user = user }

    package init(result: JSONObject) throws(AuthdError) {
        var reader = FieldReader.result(result)
        user = try UserInfo(object: reader.object("user"))
    }

    package var result: JSONObject { ["user": .object(user.object)] }
}

/// `user_add`: create an account (grant `admin`).
public struct UserAddRequest: AuthdOperation, Hashable, CustomStringConvertible {
    package typealias Result = UserResult
    package static let op = "user_add"

    /// The login name: 1 to 64 characters from `a-z 0-9 . _ @ -`, starting with a letter or digit.
    public var username: String
    /// The initial password.
    public var password: String
    /// The user's roles.
    public var roles: [String]

    /// A request.
    public init(username: String, password: String, roles: [String] = []) {
        self.username = username
        self.password = password
        self.roles = roles
    }

    package init(fields: JSONObject) throws(AuthdError) {
        var reader = FieldReader(fields, context: "user_add request")
        username = try reader.string("username")
        password = try reader.string("password")
        roles = try reader.optionalStringArray("roles") ?? []
        try reader.finish()
    }

    package var fields: JSONObject {
        ["username": .string(username), "password": .string(password), "roles": .strings(roles)]
    }

    /// The request without its password.
    public var description: String { "UserAddRequest(username: \(username), roles: \(roles), password: <redacted>)" }
}

/// `user_set_password`: replace a user's password; the user's tokens and sessions are revoked (grant `admin`).
public struct UserSetPasswordRequest: AuthdOperation, Hashable, CustomStringConvertible {
    package typealias Result = UserResult
    package static let op = "user_set_password"

    /// The user.
    public var username: String
    /// The new password.
    public var password: String

    /// A request.
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    package init(fields: JSONObject) throws(AuthdError) {
        var reader = FieldReader(fields, context: "user_set_password request")
        username = try reader.string("username")
        password = try reader.string("password")
        try reader.finish()
    }

    package var fields: JSONObject { ["username": .string(username), "password": .string(password)] }

    /// The request without its password.
    public var description: String { "UserSetPasswordRequest(username: \(username), password: <redacted>)" }
}

/// `user_set_roles`: replace a user's roles; the user's tokens and sessions are revoked, so a
/// removed role stops working at once (grant `admin`).
public struct UserSetRolesRequest: AuthdOperation, Hashable {
    package typealias Result = UserResult
    package static let op = "user_set_roles"

    /// The user.
    public var username: String
    /// The complete new set of roles.
    public var roles: [String]

    /// A request.
    public init(username: String, roles: [String]) {
        self.username = username
        self.roles = roles
    }

    package init(fields: JSONObject) throws(AuthdError) {
        var reader = FieldReader(fields, context: "user_set_roles request")
        username = try reader.string("username")
        roles = try reader.optionalStringArray("roles") ?? []
        try reader.finish()
    }

    package var fields: JSONObject { ["username": .string(username), "roles": .strings(roles)] }
}

/// An admin op whose only field is the username.
package protocol SingleUserOperation: AuthdOperation where Result == UserResult {
    /// The user.
    var username: String { get }
    /// A request about `username`.
    init(username: String)
}

extension SingleUserOperation {
    package init(fields: JSONObject) throws(AuthdError) {
        var reader = FieldReader(fields, context: "\(Self.op) request")
        self.init(username: try reader.string("username"))
        try reader.finish()
    }

    package var fields: JSONObject { ["username": .string(username)] }
}

/// `user_disable`: refuse the user's logins and revoke their tokens and sessions (grant `admin`).
public struct UserDisableRequest: SingleUserOperation, Hashable {
    package static let op = "user_disable"
    /// The user.
    public var username: String
    /// A request.
    public init(username: String) { self.username = username }
}

/// `user_enable`: allow a disabled user to log in again (grant `admin`).
public struct UserEnableRequest: SingleUserOperation, Hashable {
    package static let op = "user_enable"
    /// The user.
    public var username: String
    /// A request.
    public init(username: String) { self.username = username }
}

/// `user_delete`: remove the account and revoke its tokens and sessions (grant `admin`).
public struct UserDeleteRequest: SingleUserOperation, Hashable {
    package static let op = "user_delete"
    /// The user.
    public var username: String
    /// A request.
    public init(username: String) { self.username = username }
}

/// `user_list`: every account, by name, without password hashes (grant `admin`).
public struct UserListRequest: AuthdOperation, Hashable {
    package typealias Result = UserListResult
    package static let op = "user_list"
    package static let isIdempotent = true

    /// A request.
    public init() {}

    package init(fields: JSONObject) throws(AuthdError) {
        try FieldReader(fields, context: "user_list request").finish()
    }

    package var fields: JSONObject { [:] }
}

/// The result of `user_list`.
public struct UserListResult: AuthdOperationResult, Hashable {
    /// The accounts, sorted by name.
    public var users: [UserInfo]

    /// A result.
    public init(users: [UserInfo]) { self.users = users }

    package init(result: JSONObject) throws(AuthdError) {
        var reader = FieldReader.result(result)
        guard case .array(let elements)? = reader.value("users") else { throw .badRequest("missing field 'users'") }
        var users: [UserInfo] = []
        for element in elements {
            guard case .object(let object) = element else { throw .badRequest("field 'users' must hold objects") }
            users.append(try UserInfo(object: object))
        }
        self.users = users
    }

    package var result: JSONObject { ["users": .array(users.map { .object($0.object) })] }
}
