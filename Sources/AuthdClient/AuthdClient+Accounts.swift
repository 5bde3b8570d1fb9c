public import AuthdProtocol

extension AuthdClient {
    /// Logs in with a username and password: an access token with the user's roles, and a refresh
    /// token. Throws `invalid_credentials` for a wrong password, an unknown user or a disabled
    /// account alike, and `too_many_attempts` after repeated failures.
    public func login(username: String, password: String, audience: [String]? = nil) async throws(AuthdError) -> IssueResult {
        try await send(LoginRequest(username: username, password: password, audience: audience))
    }

    /// Creates a user (needs the `admin` grant). Throws `user_exists` if the name is taken.
    public func addUser(_ username: String, password: String, roles: [String] = []) async throws(AuthdError) -> UserInfo {
        try await send(UserAddRequest(username: username, password: password, roles: roles)).user
    }

    /// Replaces a user's password and revokes their tokens and sessions (needs `admin`).
    public func setPassword(of username: String, to password: String) async throws(AuthdError) -> UserInfo {
        try await send(UserSetPasswordRequest(username: username, password: password)).user
    }

    /// Replaces a user's roles and revokes their tokens and sessions (needs `admin`).
    public func setRoles(of username: String, to roles: [String]) async throws(AuthdError) -> UserInfo {
        try await send(UserSetRolesRequest(username: username, roles: roles)).user
    }

    /// Disables a user: logins fail, and their tokens and sessions are revoked (needs `admin`).
    public func disableUser(_ username: String) async throws(AuthdError) -> UserInfo {
        try await send(UserDisableRequest(username: username)).user
    }

    /// Lets a disabled user log in again (needs `admin`).
    public func enableUser(_ username: String) async throws(AuthdError) -> UserInfo {
        try await send(UserEnableRequest(username: username)).user
    }

    /// Deletes a user and revokes their tokens and sessions (needs `admin`). Returns the account as it was.
    @discardableResult
    public func deleteUser(_ username: String) async throws(AuthdError) -> UserInfo {
        try await send(UserDeleteRequest(username: username)).user
    }

    /// Every user, sorted by name, without password hashes (needs `admin`).
    public func listUsers() async throws(AuthdError) -> [UserInfo] {
        try await send(UserListRequest()).users
    }
}
