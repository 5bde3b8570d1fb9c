import Synchronization

/// Where failed logins are counted: in memory on one host, or in the shared database of a fleet
/// (so that an attacker cannot multiply attempts by the number of hosts).
public protocol FailedLoginCounter: Sendable {
    /// Seconds until `username` may try again, or `nil` if it may now.
    func retryAfter(_ username: String, now: Int64) async throws(StoreError) -> Int64?
    /// Counts a failure; returns whether the username is now locked out.
    func recordFailure(_ username: String, now: Int64) async throws(StoreError) -> Bool
    /// Forgets the failures of a user who just logged in.
    func recordSuccess(_ username: String) async
}

/// Slows down password guessing: after `maximumFailures` failed logins for one username within
/// `window` seconds, logins for that username are refused without checking the password for
/// `lockout` seconds after the last failure.
///
/// It counts by username whether or not the user exists, so it reveals nothing about which
/// names are real. It lives in memory: a restart forgets it, which only ever makes authd more
/// lenient, never locks anybody out for good.
public final class LoginThrottle: FailedLoginCounter, Sendable {
    /// The throttle's settings: the `max_failures`, `failure_window` and `lockout` keys of `[users]`.
    public struct Policy: Sendable, Equatable {
        /// Failures within the window that start a lockout; 0 turns throttling off.
        public var maximumFailures = 5
        /// The window failures are counted in, seconds.
        public var window: Int64 = 900
        /// How long logins stay refused after the last failure, seconds.
        public var lockout: Int64 = 300

        /// The defaults.
        public init() {}
    }

    /// Usernames tracked at most; beyond it the stalest entries are forgotten, so that guessing
    /// random names cannot grow authd's memory without bound.
    static let maximumTrackedNames = 100_000

    private let policy: Policy
    private let failures = Mutex<[String: [Int64]]>([:])

    /// A throttle with these settings.
    public init(policy: Policy) { self.policy = policy }

    /// Seconds until `username` may try again, or `nil` if it may now.
    public func retryAfter(_ username: String, now: Int64) -> Int64? {
        failures.withLock { failures in Self.retryAfter(failures: failures[username] ?? [], now: now, policy: policy) }
    }

    /// The rule, whoever counts: after `maximumFailures` failures within `window`, wait until
    /// `lockout` after the last one. `failures` are the times of the failures, oldest first.
    public static func retryAfter(failures times: [Int64], now: Int64, policy: Policy) -> Int64? {
        guard policy.maximumFailures > 0, let last = times.last else { return nil }
        let recent = times.filter { $0 > now - policy.window }
        guard recent.count >= policy.maximumFailures, last + policy.lockout > now else { return nil }
        return last + policy.lockout - now
    }

    /// Counts a failure; returns whether the username is now locked out.
    @discardableResult
    public func recordFailure(_ username: String, now: Int64) -> Bool {
        guard policy.maximumFailures > 0 else { return false }
        return failures.withLock { failures -> Bool in
            var times = failures[username, default: []].filter { $0 > now - policy.window }
            times.append(now)
            if times.count > policy.maximumFailures { times.removeFirst(times.count - policy.maximumFailures) }
            failures[username] = times
            if failures.count > Self.maximumTrackedNames { Self.forgetStalest(&failures, now: now, window: policy.window) }
            return times.count >= policy.maximumFailures
        }
    }

    /// Forgets the failures of a user who just logged in.
    public func recordSuccess(_ username: String) {
        _ = failures.withLock { $0.removeValue(forKey: username) }
    }

    private static func forgetStalest(_ failures: inout [String: [Int64]], now: Int64, window: Int64) {
        failures = failures.filter { ($0.value.last ?? 0) > now - window }
        guard failures.count > maximumTrackedNames else { return }
        let keep = failures.sorted { ($0.value.last ?? 0) > ($1.value.last ?? 0) }.prefix(maximumTrackedNames * 9 / 10)
        failures = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
    }
}
