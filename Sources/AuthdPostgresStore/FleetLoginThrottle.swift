public import AuthdCore

/// Failed logins counted in the fleet's database: a username locked out on one node is locked out
/// on every node, and an attacker spreading guesses over the fleet gets no more of them than
/// against one host. The rule is ``LoginThrottle``'s.
public struct FleetLoginThrottle: FailedLoginCounter {
    private let database: FleetDatabase
    private let policy: LoginThrottle.Policy

    /// A throttle on `database` with `policy` (the `[users]` settings).
    public init(database: FleetDatabase, policy: LoginThrottle.Policy) {
        self.database = database
        self.policy = policy
    }

    public func retryAfter(_ username: String, now: Int64) async throws(StoreError) -> Int64? {
        guard policy.maximumFailures > 0 else { return nil }
        let failures = try await database.loginFailures(username, since: now - policy.window)
        return LoginThrottle.retryAfter(failures: failures, now: now, policy: policy)
    }

    public func recordFailure(_ username: String, now: Int64) async throws(StoreError) -> Bool {
        guard policy.maximumFailures > 0 else { return false }
        let failures = try await database.recordLoginFailure(username, now: now, window: policy.window)
        return failures.count >= policy.maximumFailures
    }

    public func recordSuccess(_ username: String) async {
        try? await database.clearLoginFailures(username)
    }
}
