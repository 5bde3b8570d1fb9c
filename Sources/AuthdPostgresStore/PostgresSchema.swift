import AuthdCore
import Logging
import PostgresNIO

/// The fleet database's schema, as a list of migrations, recorded in `authd_schema`.
///
/// Every node migrates at start, in one transaction that first takes an advisory lock, so nodes
/// starting together migrate once, one after the other; a database migrated by a newer authd is
/// refused untouched. Nothing here needs a superuser: the role needs to own (or be allowed to
/// create) its tables in the database. Never edit a migration that has shipped: add one.
enum PostgresSchema {
    /// Each migration is a list of statements (the extended query protocol takes one at a time).
    static let migrations: [[PostgresQuery]] = [
        // 1: the shared state of a fleet.
        [
            """
            CREATE TABLE authd_feed (
                id smallint PRIMARY KEY CHECK (id = 1),
                seq bigint NOT NULL
            )
            """,
            "INSERT INTO authd_feed (id, seq) VALUES (1, 0)",
            """
            CREATE TABLE authd_revocations (
                seq bigint PRIMARY KEY,
                event_id text NOT NULL UNIQUE,
                kind smallint NOT NULL CHECK (kind IN (1, 2, 3)),
                value text NOT NULL,
                revoked_before bigint NOT NULL,
                expires_at bigint NOT NULL,
                node text NOT NULL,
                created_at bigint NOT NULL
            )
            """,
            "CREATE INDEX authd_revocations_expiry ON authd_revocations (expires_at)",
            """
            CREATE TABLE authd_keys (
                kid text PRIMARY KEY,
                node text NOT NULL,
                jwk text NOT NULL,
                created_at bigint NOT NULL,
                expires_at bigint
            )
            """,
            """
            CREATE TABLE authd_users (
                username text PRIMARY KEY,
                password_hash text NOT NULL,
                roles_json text NOT NULL,
                disabled boolean NOT NULL DEFAULT false,
                created_at bigint NOT NULL,
                updated_at bigint NOT NULL
            )
            """,
            """
            CREATE TABLE authd_login_failures (
                username text NOT NULL,
                failed_at bigint NOT NULL,
                node text NOT NULL
            )
            """,
            "CREATE INDEX authd_login_failures_user ON authd_login_failures (username, failed_at)",
            """
            CREATE TABLE authd_refresh_families (
                family_id text PRIMARY KEY,
                grant_json text NOT NULL,
                created_at bigint NOT NULL,
                expires_at bigint NOT NULL,
                revoked boolean NOT NULL DEFAULT false
            )
            """,
            "CREATE INDEX authd_refresh_families_expiry ON authd_refresh_families (expires_at)",
            """
            CREATE TABLE authd_refresh_tokens (
                token_hash bytea PRIMARY KEY,
                family_id text NOT NULL REFERENCES authd_refresh_families (family_id) ON DELETE CASCADE,
                spent boolean NOT NULL DEFAULT false,
                expires_at bigint NOT NULL
            )
            """,
            "CREATE INDEX authd_refresh_tokens_family ON authd_refresh_tokens (family_id)",
            "CREATE INDEX authd_refresh_tokens_expiry ON authd_refresh_tokens (expires_at)",
        ]
    ]

    /// The version this authd writes.
    static var currentVersion: Int { migrations.count }

    /// Brings the schema to ``currentVersion`` in one transaction, or refuses a newer one.
    ///
    /// - Throws: ``StoreError`` (`unsupported_schema`) for a newer schema; the driver's error otherwise.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            // Any constant works: it only has to be the same on every node.
            try await connection.query("SELECT pg_advisory_xact_lock(7305682741)", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS authd_schema (version integer NOT NULL)", logger: logger)
            var version = 0
            for try await found in try await connection.query("SELECT version FROM authd_schema", logger: logger).decode(Int.self) {
                version = found
            }
            guard version <= currentVersion else {
                throw StoreError(
                    .unsupportedSchema,
                    "the fleet database has schema version \(version), but this authd knows versions up to \(currentVersion): "
                        + "a newer authd migrated it. Upgrade this node; the database was left as it is")
            }
            guard version < currentVersion else { return }
            for statement in migrations[version...].joined() { try await connection.query(statement, logger: logger) }
            if version == 0 {
                try await connection.query("INSERT INTO authd_schema (version) VALUES (\(currentVersion))", logger: logger)
            } else {
                try await connection.query("UPDATE authd_schema SET version = \(currentVersion)", logger: logger)
            }
            logger.notice("migrated the fleet database", metadata: ["authd.from": "\(version)", "authd.to": "\(currentVersion)"])
        }
    }
}
