public import AuthdProtocol

/// Why a login was refused: the error the caller sees, and the reason only the audit log sees.
/// The caller is never told whether the user exists, is disabled, or mistyped the password.
public struct LoginRefusal: Error, Sendable {
    /// What goes on the wire.
    public var error: AuthdError
    /// What goes in the log: `unknown_user`, `wrong_password`, `disabled`, `throttled`, …
    public var reason: String
}

/// Password accounts: login, and the admin ops that manage accounts.
///
/// Every change that could leave someone holding more than they should (a new password, fewer
/// roles, a disabled or deleted account) revokes the user's tokens and refresh sessions in the
/// same transaction as the change.
public struct AccountService: Sendable {
    /// The settings it runs with.
    public let configuration: AccountConfiguration
    /// The password hasher (bounded concurrency).
    public let hasher: PasswordHasher
    private let throttle: any FailedLoginCounter
    private let store: any AuthdStore
    private let refresher: RefreshService
    private let clock: any UnixClock

    /// A service over `store`.
    ///
    /// - Throws: ``StartupError`` when libargon2 refuses the configured parameters.
    public init(
        configuration: AccountConfiguration, store: any AuthdStore,
        clock: any UnixClock = SystemUnixClock(), throttle: (any FailedLoginCounter)? = nil
    ) throws(StartupError) {
        self.configuration = configuration
        self.hasher = try PasswordHasher(
            parameters: configuration.argon2, maximumConcurrentHashes: configuration.maximumConcurrentHashes)
        self.throttle = throttle ?? LoginThrottle(policy: configuration.throttle)
        self.store = store
        self.refresher = RefreshService(store: store, clock: clock)
        self.clock = clock
    }

    // MARK: Login

    /// Checks the password and, if it is right, issues an access token with the user's roles and a
    /// refresh token. Unknown users are checked against a decoy hash, so every refusal takes as long.
    public func login(_ request: LoginRequest, tokens: TokenService) async throws(LoginRefusal) -> IssueResult {
        func refuse(_ error: AuthdError, _ reason: String) -> LoginRefusal { LoginRefusal(error: error, reason: reason) }
        do {
            try tokens.configuration.limits.checkIdentifier(request.username, field: "username")
            try PasswordHasher.checkLength(request.password)
        } catch {
            throw refuse(error, "malformed")
        }
        let audience = request.audience ?? [tokens.configuration.audience]
        let allowed = configuration.loginAudiences ?? [tokens.configuration.audience]
        guard !audience.isEmpty, audience.allSatisfy(allowed.contains) else {
            throw refuse(.init(.permissionDenied, "login may only ask for the audiences \(allowed)"), "audience_not_allowed")
        }
        let wait: Int64?
        do {
            wait = try await throttle.retryAfter(request.username, now: clock.now())
        } catch {
            throw refuse(error.authdError("cannot read the failed logins"), "storage_failure")
        }
        if let wait {
            throw refuse(.init(.tooManyAttempts, "too many failed logins for this user; try again in \(wait) s"), "throttled")
        }
        let user: UserRecord?
        do {
            user = try await store.user(named: request.username)
        } catch {
            throw refuse(error.authdError("cannot read the user store"), "storage_failure")
        }
        let matches: Bool
        do {
            matches = try await hasher.verify(request.password, against: user?.passwordHash)
        } catch {
            throw refuse(error, "hash_failure")
        }
        guard let user, matches, !user.disabled else {
            let reason = user == nil ? "unknown_user" : (!matches ? "wrong_password" : "disabled")
            // Counted before the refusal goes out; if it cannot be counted, the login is refused
            // all the same (and the failure is not lost silently: the reason says so).
            let lockedOut: Bool
            do {
                lockedOut = try await throttle.recordFailure(request.username, now: clock.now())
            } catch {
                throw refuse(.init(.invalidCredentials, "wrong username or password"), reason + ",not_counted")
            }
            throw refuse(.init(.invalidCredentials, "wrong username or password"), lockedOut ? reason + ",locked_out" : reason)
        }
        await throttle.recordSuccess(request.username)
        let result: IssueResult
        do {
            try await tokens.waitUntilIssuable(subject: user.username)
            result = try await refresher.issue(
                IssueRequest(subject: user.username, roles: user.roles, audience: request.audience),
                tokens: tokens)
        } catch {
            throw refuse(error, "issue_failed")
        }
        if hasher.needsRehash(user.passwordHash) { await upgradeHash(of: user, password: request.password) }
        return result
    }

    /// Re-hashes with today's parameters after the configuration changed. Best effort: the login
    /// has already succeeded, and the old hash keeps working if this fails.
    private func upgradeHash(of user: UserRecord, password: String) async {
        guard let fresh = try? await hasher.hash(password) else { return }
        _ = try? await store.changeUser(user.username, .password(hash: fresh), revoking: [], now: clock.now())
    }

    // MARK: Admin ops

    /// `user_add`.
    public func add(_ request: UserAddRequest, tokens: TokenService) async throws(AuthdError) -> UserResult {
        try Self.checkUsername(request.username)
        let roles = try tokens.configuration.limits.checkRoles(request.roles, field: "roles")
        let hash = try await hasher.hash(try checkNewPassword(request.password))
        let now = clock.now()
        let record = UserRecord(
            username: request.username, passwordHash: hash, roles: roles, disabled: false, createdAt: now, updatedAt: now)
        let created: Bool
        do {
            created = try await store.createUser(record)
        } catch {
            throw error.authdError("the user could not be stored durably")
        }
        guard created else { throw AuthdError(.userExists, "user '\(request.username)' already exists") }
        return UserResult(user: record.info)
    }

    /// `user_set_password`: the user's existing tokens and sessions are revoked.
    public func setPassword(_ request: UserSetPasswordRequest, tokens: TokenService) async throws(AuthdError) -> UserResult {
        let hash = try await hasher.hash(try checkNewPassword(request.password))
        return try await change(request.username, .password(hash: hash), endingSessions: true, tokens: tokens)
    }

    /// `user_set_roles`: the user's existing tokens and sessions are revoked, so that a removed
    /// role stops working now, not when the tokens expire.
    public func setRoles(_ request: UserSetRolesRequest, tokens: TokenService) async throws(AuthdError) -> UserResult {
        let roles = try tokens.configuration.limits.checkRoles(request.roles, field: "roles")
        return try await change(request.username, .roles(roles), endingSessions: true, tokens: tokens)
    }

    /// `user_disable`: logins are refused, and the user's tokens and sessions are revoked.
    public func disable(_ request: UserDisableRequest, tokens: TokenService) async throws(AuthdError) -> UserResult {
        try await change(request.username, .disabled(true), endingSessions: true, tokens: tokens)
    }

    /// `user_enable`.
    public func enable(_ request: UserEnableRequest, tokens: TokenService) async throws(AuthdError) -> UserResult {
        try await change(request.username, .disabled(false), endingSessions: false, tokens: tokens)
    }

    /// `user_delete`: the account is removed, and its tokens and sessions are revoked.
    public func delete(_ request: UserDeleteRequest, tokens: TokenService) async throws(AuthdError) -> UserResult {
        try await change(request.username, .delete, endingSessions: true, tokens: tokens)
    }

    /// `user_list`.
    public func list() async throws(AuthdError) -> UserListResult {
        do {
            return UserListResult(users: try await store.users().map(\.info))
        } catch {
            throw error.authdError("cannot read the user store")
        }
    }

    private func change(
        _ username: String, _ change: UserChange, endingSessions: Bool, tokens: TokenService
    ) async throws(AuthdError) -> UserResult {
        try tokens.configuration.limits.checkIdentifier(username, field: "username")
        let now = clock.now()
        // A subject watermark revokes the user's access tokens, and the refresh families created
        // up to now (refresh checks it), for as long as either could still be used.
        let revocations: [RevocationRecord] =
            endingSessions
            ? [.subject(username, before: now, expiresAt: tokens.configuration.subjectRevocationExpiry(cutoff: now, now: now))] : []
        let record: UserRecord?
        do {
            record = try await store.changeUser(username, change, revoking: revocations, now: now)
        } catch {
            throw error.authdError("the change could not be stored durably")
        }
        guard let record else { throw AuthdError(.unknownUser, "no user named '\(username)'") }
        tokens.denylist.apply(revocations)
        return UserResult(user: record.info)
    }

    private func checkNewPassword(_ password: String) throws(AuthdError) -> String {
        try PasswordHasher.checkLength(password)
        guard password.count >= configuration.minimumPasswordLength else {
            throw .badRequest("the password must have at least \(configuration.minimumPasswordLength) characters")
        }
        return password
    }

    /// Login names: 1 to 64 characters from `a-z 0-9 . _ @ -`, beginning with a letter or digit.
    /// Lower case only, so that `Alice` and `alice` can never be two accounts.
    static func checkUsername(_ name: String) throws(AuthdError) {
        let scalars = Array(name.unicodeScalars)
        let isLowerAlphanumeric: (Unicode.Scalar) -> Bool = { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        guard (1...64).contains(scalars.count), isLowerAlphanumeric(scalars[0]),
            scalars.allSatisfy({ isLowerAlphanumeric($0) || ".-_@".unicodeScalars.contains($0) })
        else {
            throw .badRequest("a username is 1 to 64 characters from a-z, 0-9, '.', '_', '@', '-', beginning with a letter or digit")
        }
    }
}
