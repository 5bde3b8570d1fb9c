public import AuthdProtocol

/// authd's durable state: revocations, refresh-token families and password accounts.
///
/// One interface for every engine. SQLite (`AuthdSQLiteStore`) is the single-host default; a
/// shared database for a fleet implements the same protocol, and nothing that calls it changes.
///
/// Every method is `async` and must not block the caller's thread: engines do their blocking I/O
/// elsewhere (their own threads, or a non-blocking client). A method that writes returns only when
/// the change is durable (on disk, or committed on the database server); a crash at any later
/// instant loses nothing it acknowledged. A method that fails changed nothing.
///
/// A stored value that cannot be decoded is reported as ``StoreError/Code/corruptRow``, never
/// read as an empty value.
public protocol AuthdStore: Sendable {
    // MARK: Revocations

    /// Writes `records` durably, in one transaction, and says how far they have reached.
    @discardableResult
    func record(_ records: [RevocationRecord]) async throws(StoreError) -> RevocationPropagation

    /// Every revocation still in force at `now`, for the in-memory denylist.
    func revocations(now: Int64) async throws(StoreError) -> RevocationSnapshot

    /// Deletes what expired before `now` (revocations, spent refresh tokens, dead families) and
    /// keeps the engine's files bounded. Runs beside requests, never holding them up for long.
    func prune(now: Int64) async throws(StoreError)

    // MARK: Refresh-token families

    /// Creates a family with its first token (only its hash is stored).
    func createFamily(id: String, grant: RefreshGrant, tokenHash: [UInt8], now: Int64, expiresAt: Int64) async throws(StoreError)

    /// Spends `presented` and stores `successor` in one transaction; a token spent before revokes
    /// its family instead (until `revocationExpiry`). Exactly one of any concurrent rotations of
    /// the same token wins.
    func rotate(
        presented: [UInt8], successor: [UInt8], now: Int64, successorExpiresAt: Int64, revocationExpiry: Int64
    ) async throws(StoreError) -> RefreshRotation

    /// The family a refresh token (by hash) belongs to, if it is known.
    func familyID(ofToken hash: [UInt8]) async throws(StoreError) -> String?

    // MARK: Accounts

    /// The account named `username`, if any.
    func user(named username: String) async throws(StoreError) -> UserRecord?

    /// Every account, sorted by name.
    func users() async throws(StoreError) -> [UserRecord]

    /// Creates `record`; returns `false`, changing nothing, if the name is taken.
    func createUser(_ record: UserRecord) async throws(StoreError) -> Bool

    /// Applies `change` and records `revocations` in one transaction, so that a crash can never
    /// leave a disabled user with live sessions, or revoke without disabling. Returns the account
    /// after the change (before it, for `.delete`), or `nil`, changing nothing, if there is none.
    func changeUser(
        _ username: String, _ change: UserChange, revoking revocations: [RevocationRecord], now: Int64
    ) async throws(StoreError) -> UserRecord?
}

/// A failure of the store. Nothing that failed was acknowledged; the daemon answers
/// `storage_failure` and carries on.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. New kinds may be added; match with `==`, not an exhaustive switch.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The name, in snake_case.
        public let name: String

        private init(_ name: String) { self.name = name }

        /// The engine refused or failed an operation: disk full or read-only, I/O error, lost connection.
        public static let unavailable = Code("unavailable")
        /// A stored row could not be decoded.
        public static let corruptRow = Code("corrupt_row")
        /// The database was written by a newer authd (its schema version is unknown here).
        public static let unsupportedSchema = Code("unsupported_schema")
        /// The fleet's shared database cannot be reached (a connection cannot be made, or was lost
        /// before the answer). The operation may or may not have been applied there.
        public static let disconnected = Code("disconnected")

        public var description: String { name }
    }

    /// The kind of failure.
    public let code: Code
    /// What went wrong, for logs. Never holds a secret (no token, password hash or credential).
    public let message: String

    /// A store error of kind `code`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// An ``Code/unavailable`` error.
    public init(_ message: String) { self.init(.unavailable, message) }

    public var description: String { message }

    /// The wire error for a failed `doing` (such as "the revocation could not be stored"):
    /// `fleet_unavailable` when the shared database is out of reach, else `storage_failure`.
    public func authdError(_ doing: String) -> AuthdError {
        code == .disconnected
            ? AuthdError(.fleetUnavailable, "\(doing): the fleet database is unreachable (\(message))")
            : AuthdError(.storageFailure, "\(doing): \(message)")
    }
}
