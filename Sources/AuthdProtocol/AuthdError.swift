/// An error that authd reports on the wire, and that ``AuthdClient`` throws.
///
/// The ``code`` is the contract: its ``Code/rawValue`` is the stable snake_case string in the
/// reply's `error.code`, and `authctl` maps it to an exit status. The ``message`` is for humans and
/// may change between releases.
public struct AuthdError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, evolvable error code. New codes may be added in any release, so switch over the
    /// ones you handle and treat the rest as a generic failure.
    public struct Code: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        /// The snake_case string sent on the wire.
        public let rawValue: String

        /// A code from its wire string. Unknown strings are kept, not rejected, so that an older
        /// client still carries a newer daemon's code.
        public init(rawValue: String) { self.rawValue = rawValue }

        public var description: String { rawValue }

        /// The request was malformed: broken JSON, a missing field, a field of the wrong type, an
        /// unknown field, or a value outside its allowed range.
        public static let badRequest = Code(rawValue: "bad_request")
        /// The `op` is not one this daemon knows.
        public static let unknownOp = Code(rawValue: "unknown_op")
        /// The request line exceeded the daemon's maximum line length; the connection is closed.
        public static let lineTooLong = Code(rawValue: "line_too_long")
        /// The token is malformed, forged, signed by an unknown key, or breaks a strict-verification rule (HTTP 401).
        public static let invalidToken = Code(rawValue: "invalid_token")
        /// The token's `exp` has passed (HTTP 401).
        public static let tokenExpired = Code(rawValue: "token_expired")
        /// The token's `nbf` or `iat` lies in the future (HTTP 401).
        public static let tokenNotYetValid = Code(rawValue: "token_not_yet_valid")
        /// The token is not meant for the audience asked for (HTTP 401).
        public static let wrongAudience = Code(rawValue: "wrong_audience")
        /// The token is valid but lacks a required role (HTTP 403).
        public static let insufficientRole = Code(rawValue: "insufficient_role")
        /// The token has been revoked (HTTP 401).
        public static let tokenRevoked = Code(rawValue: "token_revoked")
        /// The refresh token is unknown, expired, malformed, or not a refresh token.
        public static let invalidRefreshToken = Code(rawValue: "invalid_refresh_token")
        /// The refresh token had already been used: its whole family is now revoked.
        public static let refreshReused = Code(rawValue: "refresh_reused")
        /// The username or password is wrong, or the account is disabled; which one is never said (HTTP 401).
        public static let invalidCredentials = Code(rawValue: "invalid_credentials")
        /// Too many failed logins for this username lately; try again later (HTTP 429).
        public static let tooManyAttempts = Code(rawValue: "too_many_attempts")
        /// `user_add` named a user that already exists.
        public static let userExists = Code(rawValue: "user_exists")
        /// An admin op named a user that does not exist.
        public static let unknownUser = Code(rawValue: "unknown_user")
        /// The caller may not perform this op.
        public static let permissionDenied = Code(rawValue: "permission_denied")
        /// The change could not be written durably (a full or read-only disk, say): nothing was
        /// acknowledged, and the caller may retry.
        public static let storageFailure = Code(rawValue: "storage_failure")
        /// A fleet node cannot reach the shared database for an op that needs it (refresh, login,
        /// `user_*`), or is too stale to vouch for another node's token with `on_stale = "refuse"`.
        /// Nothing was changed; retry later or on another node (HTTP 503).
        public static let fleetUnavailable = Code(rawValue: "fleet_unavailable")
        /// The caller (or everyone together) already has as many connections open as authd allows;
        /// this connection is closed (HTTP 503).
        public static let tooManyConnections = Code(rawValue: "too_many_connections")
        /// The daemon failed in a way that is not the caller's fault.
        public static let internalError = Code(rawValue: "internal_error")
        /// Client side only, never sent by the daemon: the daemon could not be reached, or the
        /// connection was lost or timed out before the reply arrived.
        public static let daemonUnreachable = Code(rawValue: "daemon_unreachable")
    }

    /// What went wrong, as a stable code.
    public var code: Code
    /// A human-readable explanation. Never contains a token or a secret.
    public var message: String

    /// An error with this code and explanation.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

extension AuthdError {
    /// A `bad_request` error.
    public static func badRequest(_ message: String) -> AuthdError { AuthdError(.badRequest, message) }
}
