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
    case password(hash: String)
    case roles([String])
    case disabled(Bool)
    case delete
}

/// Durable accounts. A change and the revocations it implies are written in one transaction, so
/// a crash can never leave a disabled user with live sessions, or revoke without disabling.
public protocol UserStore: Sendable {
    /// The account named `username`, if any.
    func user(named username: String) throws(StoreError) -> UserRecord?
    /// Every account, sorted by name.
    func users() throws(StoreError) -> [UserRecord]
    /// Creates `record`; returns `false`, changing nothing, if the name is taken.
    func createUser(_ record: UserRecord) async throws(StoreError) -> Bool
    /// Applies `change` and records `revocations` in one transaction. Returns the account after
    /// the change (before it, for `.delete`), or `nil`, changing nothing, if there is no such user.
    func changeUser(
        _ username: String, _ change: UserChange, revoking revocations: [RevocationRecord], now: Int64
    ) async throws(StoreError) -> UserRecord?
}

extension SQLiteStore: UserStore {
    static let userSchema = """
        CREATE TABLE IF NOT EXISTS users (
            username TEXT PRIMARY KEY NOT NULL,
            password_hash TEXT NOT NULL,
            roles_json TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        """

    private static let selectUser =
        "SELECT username, password_hash, roles_json, disabled, created_at, updated_at FROM users"

    private static func record(from row: SQLiteStatement) -> UserRecord {
        let rolesText = row.text(2) ?? "[]"
        let roles = (try? JSONParser().parse(rolesText))?.arrayValue?.compactMap(\.stringValue) ?? []
        return UserRecord(
            username: row.text(0) ?? "", passwordHash: row.text(1) ?? "", roles: roles, disabled: row.integer(3) != 0,
            createdAt: row.integer(4), updatedAt: row.integer(5))
    }

    private static func fetch(_ username: String, in database: SQLiteDatabase) throws(StoreError) -> UserRecord? {
        let lookup = try database.prepare(selectUser + " WHERE username = ?1")
        try lookup.bind([.text(username)])
        return try lookup.step() ? record(from: lookup) : nil
    }

    public func user(named username: String) throws(StoreError) -> UserRecord? {
        try read { database throws(StoreError) in try Self.fetch(username, in: database) }
    }

    public func users() throws(StoreError) -> [UserRecord] {
        try read { database throws(StoreError) -> [UserRecord] in
            let all = try database.prepare(Self.selectUser + " ORDER BY username")
            var records: [UserRecord] = []
            while try all.step() { records.append(Self.record(from: all)) }
            return records
        }
    }

    public func createUser(_ record: UserRecord) async throws(StoreError) -> Bool {
        let rolesText = JSONWriter.string(.strings(record.roles))
        return try await perform { database throws(StoreError) -> Bool in
            try database.prepare(
                """
                INSERT INTO users (username, password_hash, roles_json, disabled, created_at, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(username) DO NOTHING
                """
            ).run([
                .text(record.username), .text(record.passwordHash), .text(rolesText), .integer(record.disabled ? 1 : 0),
                .integer(record.createdAt), .integer(record.updatedAt),
            ])
            return database.changes == 1
        }
    }

    public func changeUser(
        _ username: String, _ change: UserChange, revoking revocations: [RevocationRecord], now: Int64
    ) async throws(StoreError) -> UserRecord? {
        try await perform { database throws(StoreError) -> UserRecord? in
            guard let before = try Self.fetch(username, in: database) else { return nil }
            let name = SQLiteValue.text(username)
            switch change {
            case .password(let hash):
                try database.prepare("UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE username = ?1")
                    .run([name, .text(hash), .integer(now)])
            case .roles(let roles):
                try database.prepare("UPDATE users SET roles_json = ?2, updated_at = ?3 WHERE username = ?1")
                    .run([name, .text(JSONWriter.string(.strings(roles))), .integer(now)])
            case .disabled(let disabled):
                try database.prepare("UPDATE users SET disabled = ?2, updated_at = ?3 WHERE username = ?1")
                    .run([name, .integer(disabled ? 1 : 0), .integer(now)])
            case .delete:
                try database.prepare("DELETE FROM users WHERE username = ?1").run([name])
            }
            try Self.write(revocations, to: database)
            return change == .delete ? before : try Self.fetch(username, in: database)
        }
    }
}
