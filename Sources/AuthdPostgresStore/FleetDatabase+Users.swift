import AuthdCore
import AuthdProtocol
import Logging
import PostgresNIO

/// The fleet's one user table, and failed logins counted across every node.
extension FleetDatabase {
    private static func record(
        _ username: String, _ hash: String, _ rolesText: String, _ disabled: Bool, _ createdAt: Int64, _ updatedAt: Int64
    ) throws(StoreError) -> UserRecord {
        guard let elements = (try? JSONParser().parse(rolesText))?.arrayValue,
            case let roles = elements.compactMap(\.stringValue), roles.count == elements.count
        else { throw StoreError(.corruptRow, "authd_users.roles_json of '\(username)' is not a JSON array of strings") }
        return UserRecord(username: username, passwordHash: hash, roles: roles, disabled: disabled, createdAt: createdAt, updatedAt: updatedAt)
    }

    private static func fetch(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> [UserRecord] {
        var records: [UserRecord] = []
        for try await (name, hash, roles, disabled, created, updated) in try await connection.query(query, logger: logger).decode(
            (String, String, String, Bool, Int64, Int64).self)
        {
            records.append(try record(name, hash, roles, disabled, created, updated))
        }
        return records
    }

    func user(named username: String) async throws(StoreError) -> UserRecord? {
        try await withConnection("read a user") { connection, logger in
            try await Self.fetch(
                """
                SELECT username, password_hash, roles_json, disabled, created_at, updated_at FROM authd_users
                WHERE username = \(username)
                """, on: connection, logger: logger
            ).first
        }
    }

    func users() async throws(StoreError) -> [UserRecord] {
        try await withConnection("list users") { connection, logger in
            try await Self.fetch(
                "SELECT username, password_hash, roles_json, disabled, created_at, updated_at FROM authd_users ORDER BY username",
                on: connection, logger: logger)
        }
    }

    func createUser(_ record: UserRecord) async throws(StoreError) -> Bool {
        let rolesText = JSONWriter.string(.strings(record.roles))
        return try await withConnection("add a user") { connection, logger in
            var inserted = false
            for try await _ in try await connection.query(
                """
                INSERT INTO authd_users (username, password_hash, roles_json, disabled, created_at, updated_at)
                VALUES (\(record.username), \(record.passwordHash), \(rolesText), \(record.disabled), \(record.createdAt), \(record.updatedAt))
                ON CONFLICT (username) DO NOTHING RETURNING 1
                """, logger: logger
            ).decode(Int32.self) {
                inserted = true
            }
            return inserted
        }
    }

    func changeUser(
        _ username: String, _ change: UserChange, revoking revocations: [PendingRevocation], now: Int64
    ) async throws(StoreError) -> UserRecord? {
        let node = self.node
        return try await transaction("change a user") { connection, logger -> UserRecord? in
            let select: PostgresQuery = """
                SELECT username, password_hash, roles_json, disabled, created_at, updated_at FROM authd_users
                WHERE username = \(username) FOR UPDATE
                """
            guard let before = try await Self.fetch(select, on: connection, logger: logger).first else { return nil }
            switch change {
            case .password(let hash):
                try await connection.query(
                    "UPDATE authd_users SET password_hash = \(hash), updated_at = \(now) WHERE username = \(username)", logger: logger)
            case .roles(let roles):
                let text = JSONWriter.string(.strings(roles))
                try await connection.query(
                    "UPDATE authd_users SET roles_json = \(text), updated_at = \(now) WHERE username = \(username)", logger: logger)
            case .disabled(let disabled):
                try await connection.query(
                    "UPDATE authd_users SET disabled = \(disabled), updated_at = \(now) WHERE username = \(username)", logger: logger)
            case .delete:
                try await connection.query("DELETE FROM authd_users WHERE username = \(username)", logger: logger)
            }
            // Last: it holds the feed's lock until the commit.
            try await Self.insert(revocations, node: node, on: connection, logger: logger)
            if change == .delete { return before }
            let unlocked: PostgresQuery = """
                SELECT username, password_hash, roles_json, disabled, created_at, updated_at FROM authd_users
                WHERE username = \(username)
                """
            return try await Self.fetch(unlocked, on: connection, logger: logger).first
        }
    }

    /// Counts a failed login for `username` and returns the failures within `window` seconds, on
    /// every node together.
    func recordLoginFailure(_ username: String, now: Int64, window: Int64) async throws(StoreError) -> [Int64] {
        let node = self.node
        return try await withConnection("count a failed login") { connection, logger in
            try await connection.query(
                "INSERT INTO authd_login_failures (username, failed_at, node) VALUES (\(username), \(now), \(node))", logger: logger)
            return try await Self.failures(username, since: now - window, on: connection, logger: logger)
        }
    }

    /// The times of `username`'s failed logins after `since`, oldest first.
    func loginFailures(_ username: String, since: Int64) async throws(StoreError) -> [Int64] {
        try await withConnection("read failed logins") { connection, logger in
            try await Self.failures(username, since: since, on: connection, logger: logger)
        }
    }

    /// Forgets `username`'s failures after a successful login.
    func clearLoginFailures(_ username: String) async throws(StoreError) {
        try await withConnection("clear failed logins") { connection, logger -> Void in
            try await connection.query("DELETE FROM authd_login_failures WHERE username = \(username)", logger: logger)
        }
    }

    private static func failures(_ username: String, since: Int64, on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        var times: [Int64] = []
        for try await time in try await connection.query(
            "SELECT failed_at FROM authd_login_failures WHERE username = \(username) AND failed_at > \(since) ORDER BY failed_at",
            logger: logger
        ).decode(Int64.self) {
            times.append(time)
        }
        return times
    }
}
