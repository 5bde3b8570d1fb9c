public import AuthdProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who may do what: grants from the `[[policy.grant]]` tables of `authd.toml`.
///
/// root and authd's own user may do everything. Which ops anyone who can reach the socket may use,
/// and which grant each other op needs, is declared with the op in the server's table of
/// operations; the policy only answers whether a caller holds a grant.
public struct Policy: Sendable, Equatable {
    /// One grant.
    public struct Grant: Sendable, Equatable {
        /// Who it applies to.
        public enum Principal: Sendable, Equatable {
            case uid(UInt32)
            case gid(UInt32)
        }

        /// The callers it applies to.
        public var principal: Principal
        /// Ops allowed (`issue`, `revoke`, `admin`, or `*`).
        public var ops: Set<String>
        /// Roles the caller may put into tokens; `nil` means any.
        public var roles: Set<String>?
        /// Subjects the caller may issue for (exact, or a prefix ending in `*`); `nil` means any.
        public var subjects: [String]?
        /// Audiences the caller may issue for; `nil` means any.
        public var audiences: Set<String>?

        /// A grant.
        public init(principal: Principal, ops: Set<String>, roles: Set<String>? = nil, subjects: [String]? = nil, audiences: Set<String>? = nil) {
            self.principal = principal
            self.ops = ops
            self.roles = roles
            self.subjects = subjects
            self.audiences = audiences
        }

        func applies(to caller: Caller) -> Bool {
            switch principal {
            case .uid(let uid): caller.uid == uid
            case .gid(let gid): caller.groups.contains(gid)
            }
        }

        func allows(_ op: String) -> Bool { ops.contains("*") || ops.contains(op) }

        func allowsSubject(_ subject: String) -> Bool {
            guard let subjects else { return true }
            return subjects.contains { pattern in
                pattern.hasSuffix("*") ? subject.hasPrefix(pattern.dropLast()) : subject == pattern
            }
        }
    }

    /// What grants may name: `issue`, `revoke`, `admin` (every `user_*` op), or `*`.
    public static let grantableOps: Set<String> = ["issue", "revoke", "admin", "*"]

    /// The grants, in file order.
    public var grants: [Grant]

    /// A policy.
    public init(grants: [Grant] = []) { self.grants = grants }

    /// root and authd's own user: allowed everything, and never counted against connection limits.
    public static func isPrivileged(_ caller: Caller) -> Bool { caller.uid == 0 || caller.uid == UInt32(geteuid()) }

    /// Whether deciding for `caller` needs its supplementary groups: only when a group grant exists
    /// and the caller is not already privileged.
    public func needsGroups(of caller: Caller) -> Bool {
        !Self.isPrivileged(caller) && grants.contains { if case .gid = $0.principal { true } else { false } }
    }

    /// Refuses `op` unless the caller is privileged or holds `grant` (which covers `op`: every
    /// `user_*` op needs `admin`).
    public func authorize(_ op: String, grant: String, caller: Caller) throws(AuthdError) {
        if Self.isPrivileged(caller) { return }
        guard grants.contains(where: { $0.applies(to: caller) && $0.allows(grant) }) else {
            let why = grant == op ? "" : " (it needs a grant of '\(grant)')"
            throw AuthdError(.permissionDenied, "op '\(op)' is not permitted for \(caller)\(why)")
        }
    }

    /// Refuses an `issue` whose subject, roles or audiences no grant of the caller covers.
    public func authorizeIssue(_ request: IssueRequest, caller: Caller) throws(AuthdError) {
        if Self.isPrivileged(caller) { return }
        let candidates = grants.filter { $0.applies(to: caller) && $0.allows("issue") }
        guard !candidates.isEmpty else { throw AuthdError(.permissionDenied, "op 'issue' is not permitted for \(caller)") }
        let covered = candidates.contains { grant in
            grant.allowsSubject(request.subject)
                && (grant.roles.map { Set(request.roles).isSubset(of: $0) } ?? true)
                && (grant.audiences.map { allowed in (request.audience ?? []).allSatisfy(allowed.contains) && request.audience != nil } ?? true)
        }
        guard covered else {
            throw AuthdError(
                .permissionDenied, "no grant lets \(caller) issue for subject '\(request.subject)' with these roles and audiences")
        }
    }
}
