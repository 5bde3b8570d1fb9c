import AuthdCore

/// The database's schema, as a list of migrations. The database records the number of migrations
/// applied in `PRAGMA user_version`; opening it applies the missing ones in one transaction, and a
/// database that has more than this authd knows (written by a newer authd) is refused untouched.
///
/// Never edit a migration that has shipped: add one.
enum SQLiteSchema {
    static let migrations: [String] = [
        // 1: the tables authd 0.1.0 created before schema versions existed. Written with
        // IF NOT EXISTS so that such a database (user_version 0, tables present) takes it as a no-op.
        """
        CREATE TABLE IF NOT EXISTS revoked_tokens (
            jti TEXT PRIMARY KEY NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS revoked_tokens_expiry ON revoked_tokens(expires_at);
        CREATE TABLE IF NOT EXISTS revoked_subjects (
            subject TEXT PRIMARY KEY NOT NULL,
            revoked_before INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS refresh_families (
            family_id TEXT PRIMARY KEY NOT NULL,
            grant_json TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS refresh_tokens (
            token_hash BLOB PRIMARY KEY NOT NULL,
            family_id TEXT NOT NULL,
            spent INTEGER NOT NULL DEFAULT 0,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS refresh_tokens_expiry ON refresh_tokens(expires_at);
        CREATE TABLE IF NOT EXISTS users (
            username TEXT PRIMARY KEY NOT NULL,
            password_hash TEXT NOT NULL,
            roles_json TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
        // 2: expiry indexes on every table that pruning deletes from in small batches, and the
        // revoked families that start-up loads, so neither scans a whole table.
        """
        CREATE INDEX revoked_subjects_expiry ON revoked_subjects(expires_at);
        CREATE INDEX refresh_families_expiry ON refresh_families(expires_at);
        CREATE INDEX refresh_families_revoked ON refresh_families(expires_at) WHERE revoked = 1;
        """,
        // 3: a fleet node's local state (unused on a single host): revoked families it learned
        // from the fleet (their refresh tokens live in the shared database), its outbox of
        // revocations not yet published, its position in the fleet's revocation feed, and the
        // other nodes' public keys (so that it verifies their tokens after a restart while the
        // shared database is down).
        """
        CREATE TABLE fleet_revoked_families (
            family_id TEXT PRIMARY KEY NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX fleet_revoked_families_expiry ON fleet_revoked_families(expires_at);
        CREATE TABLE fleet_outbox (
            event_id TEXT PRIMARY KEY NOT NULL,
            kind INTEGER NOT NULL,
            value TEXT NOT NULL,
            revoked_before INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX fleet_outbox_order ON fleet_outbox(created_at);
        CREATE TABLE fleet_state (
            name TEXT PRIMARY KEY NOT NULL,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE fleet_peer_keys (
            kid TEXT PRIMARY KEY NOT NULL,
            node TEXT NOT NULL,
            jwk TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER
        ) WITHOUT ROWID;
        """,
    ]

    /// The version this authd writes.
    static var currentVersion: Int64 { Int64(migrations.count) }

    /// The version `database` records (0 for a new file, or one from before versions existed).
    /// Reads only: it is safe on a database that is about to be refused.
    static func version(of database: SQLiteDatabase) throws(StoreError) -> Int64 {
        try database.scalarInteger("PRAGMA user_version") ?? 0
    }

    /// Refuses a database written by a newer authd, before anything writes to it.
    static func checkSupported(_ version: Int64, path: String) throws(StoreError) {
        guard version <= currentVersion else {
            throw StoreError(
                .unsupportedSchema,
                "\(path) has schema version \(version), but this authd knows versions up to \(currentVersion): "
                    + "it was written by a newer authd. Run that version (or restore a backup); the database was left as it is")
        }
    }

    /// Applies the migrations after `version` in one transaction: all of them, or none.
    static func migrate(_ database: SQLiteDatabase, from version: Int64) throws(StoreError) {
        guard version < currentVersion else { return }
        try database.execute("BEGIN IMMEDIATE")
        do throws(StoreError) {
            for migration in migrations[Int(version)...] { try database.execute(migration) }
            // user_version is part of the database header, so it commits (or not) with the rest.
            try database.execute("PRAGMA user_version = \(currentVersion)")
            try database.execute("COMMIT")
        } catch {
            try? database.execute("ROLLBACK")
            throw StoreError(error.code, "cannot migrate \(database.path) from schema version \(version): \(error.message)")
        }
    }
}
