public import AuthdCore
import AuthdProtocol

extension SQLiteStore {
    private static let selectUser =
        "SELECT username, password_hash, roles_json, disabled, created_at, updated_at FROM users"

    private static func record(from row: SQLiteStatement) throws(StoreError) -> UserRecord {
        let rolesText = try row.text(2)
        guard let elements = (try? JSONParser().parse(rolesText))?.arrayValue,
            case let roles = elements.compactMap(\.stringValue), roles.count == elements.count
        else { throw row.corrupt(2, "is not a JSON array of strings") }
        return UserRecord(
            username: try row.text(0), passwordHash: try row.text(1), roles: roles, disabled: try row.flag(3),
            createdAt: try row.integer(4), updatedAt: try row.integer(5))
    }

    private static func fetch(_ username: String, in database: SQLiteDatabase) throws(StoreError) -> UserRecord? {
        let lookup = try database.prepare(selectUser + " WHERE username = ?1")
        try lookup.bind([.text(username)])
        return try lookup.step() ? try record(from: lookup) : nil
    }

    public func user(named username: String) async throws(StoreError) -> UserRecord? {
        try await read { database throws(StoreError) in try Self.fetch(username, in: database) }
    }

    public func users() async throws(StoreError) -> [UserRecord] {
        try await read { database throws(StoreError) -> [UserRecord] in
            let all = try database.prepare(Self.selectUser + " ORDER BY username")
            var records: [UserRecord] = []
            while try all.step() { records.append(try Self.record(from: all)) }
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
