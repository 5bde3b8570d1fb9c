import Dispatch
import Synchronization

/// The default store: one SQLite file in the state directory, in WAL mode with `synchronous=FULL`,
/// so a committed transaction survives a crash or power loss. It implements both
/// ``RevocationStore`` and ``RefreshTokenStore``.
///
/// Writes go through one serial writer. Whatever has queued up while the previous transaction
/// was committing runs in the next single transaction (group commit): under load, one fsync serves
/// many requests, and each caller still resumes only after its own work is durable. Because the
/// writer is serial, each unit of work also sees the effects of the ones before it, which is what
/// makes "spend this refresh token" atomic.
public final class SQLiteStore: Sendable {
    private struct Pending {
        let work: @Sendable (SQLiteDatabase) throws(StoreError) -> Void
        let complete: @Sendable (StoreError?) -> Void
    }

    private struct Queue {
        var pending: [Pending] = []
        var flushScheduled = false
    }

    private let database: Mutex<SQLiteDatabase>
    private let queue = Mutex(Queue())
    private let writerQueue = DispatchQueue(label: "authd.store.writer")
    /// The database path.
    public let path: String

    /// Opens (creating if needed) `authd.db` in `stateDirectory`.
    public init(stateDirectory: String) throws(StoreError) {
        path = stateDirectory + "/authd.db"
        let database = try SQLiteDatabase(path: path)
        // authd is the database's only user. Exclusive locking keeps the WAL index in process
        // memory instead of a memory-mapped -shm file, so a state directory that turns read-only
        // or full gives write errors that authd reports, never a SIGBUS that kills it.
        _ = try database.scalarText("PRAGMA locking_mode=EXCLUSIVE")
        let mode = try database.scalarText("PRAGMA journal_mode=WAL")
        guard mode == "wal" else { throw StoreError("cannot switch \(path) to WAL mode (got \(mode ?? "nothing"))") }
        try database.execute(Self.schema)
        try database.execute(Self.userSchema)
        self.database = Mutex(database)
    }

    private static let schema = """
        PRAGMA synchronous=FULL;
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
        """

    /// Runs `work` inside the next group-committed transaction and returns its result once that
    /// transaction is durable. If the commit fails, every caller in the batch gets the error and
    /// none of their work is kept.
    func perform<Value: Sendable>(_ work: @escaping @Sendable (SQLiteDatabase) throws(StoreError) -> Value) async throws(StoreError) -> Value {
        let outcome: Result<Value, StoreError> = await withCheckedContinuation { continuation in
            let result = Mutex<Value?>(nil)
            let pending = Pending(
                work: { database throws(StoreError) in
                    let value = try work(database)
                    result.withLock { $0 = value }
                },
                complete: { error in
                    if let error {
                        continuation.resume(returning: .failure(error))
                    } else {
                        continuation.resume(returning: .success(result.withLock { $0 }!))
                    }
                })
            let schedule = queue.withLock { queue -> Bool in
                queue.pending.append(pending)
                guard !queue.flushScheduled else { return false }
                queue.flushScheduled = true
                return true
            }
            if schedule { writerQueue.async { self.flush() } }
        }
        return try outcome.get()
    }

    /// Runs everything queued so far in one transaction, then completes its callers.
    private func flush() {
        let batch = queue.withLock { queue -> [Pending] in
            defer {
                queue.pending = []
                queue.flushScheduled = false
            }
            return queue.pending
        }
        guard !batch.isEmpty else { return }
        let failure = database.withLock { database -> StoreError? in
            defer { database.resetStatements() }
            do throws(StoreError) {
                try database.prepare("BEGIN IMMEDIATE").run([])
            } catch {
                return error
            }
            do throws(StoreError) {
                for pending in batch { try pending.work(database) }
                try database.prepare("COMMIT").run([])
                return nil
            } catch {
                try? database.execute("ROLLBACK")
                return error
            }
        }
        for pending in batch { pending.complete(failure) }
    }

    /// Runs a read on the writer's connection (reads at startup, tests).
    func read<Value>(_ body: (SQLiteDatabase) throws(StoreError) -> Value) throws(StoreError) -> Value {
        try database.withLock { database throws(StoreError) in
            defer { database.resetStatements() }
            return try body(database)
        }
    }

    /// `PRAGMA integrity_check`, for tests and operators.
    public func integrityCheck() throws(StoreError) -> String {
        try read { database throws(StoreError) in try database.scalarText("PRAGMA integrity_check") ?? "" }
    }
}

extension SQLiteStore: RevocationStore {
    public func record(_ records: [RevocationRecord]) async throws(StoreError) {
        try await perform { database throws(StoreError) in try Self.write(records, to: database) }
    }

    static func write(_ records: [RevocationRecord], to database: SQLiteDatabase) throws(StoreError) {
        let token = try database.prepare(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2) ON CONFLICT(jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)")
        let subject = try database.prepare(
            """
            INSERT INTO revoked_subjects (subject, revoked_before, expires_at) VALUES (?1, ?2, ?3)
            ON CONFLICT(subject) DO UPDATE SET revoked_before = max(revoked_before, excluded.revoked_before),
                expires_at = max(expires_at, excluded.expires_at)
            """)
        let family = try database.prepare(
            "UPDATE refresh_families SET revoked = 1, expires_at = max(expires_at, ?2) WHERE family_id = ?1")
        for record in records {
            switch record {
            case .token(let jti, let expiresAt): try token.run([.text(jti), .integer(expiresAt)])
            case .subject(let name, let before, let expiresAt): try subject.run([.text(name), .integer(before), .integer(expiresAt)])
            case .family(let id, let expiresAt): try family.run([.text(id), .integer(expiresAt)])
            }
        }
    }

    public func load(now: Int64) throws(StoreError) -> RevocationSnapshot {
        try read { database throws(StoreError) -> RevocationSnapshot in
            var snapshot = RevocationSnapshot()
            let tokens = try database.prepare("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?1")
            try tokens.bind([.integer(now)])
            while try tokens.step() { snapshot.tokens.append((tokens.text(0) ?? "", tokens.integer(1))) }
            let subjects = try database.prepare(
                "SELECT subject, revoked_before, expires_at FROM revoked_subjects WHERE expires_at > ?1")
            try subjects.bind([.integer(now)])
            while try subjects.step() {
                snapshot.subjects.append((subjects.text(0) ?? "", subjects.integer(1), subjects.integer(2)))
            }
            let families = try database.prepare(
                "SELECT family_id, expires_at FROM refresh_families WHERE revoked = 1 AND expires_at > ?1")
            try families.bind([.integer(now)])
            while try families.step() { snapshot.families.append((families.text(0) ?? "", families.integer(1))) }
            return snapshot
        }
    }

    public func prune(now: Int64) async throws(StoreError) {
        try await perform { database throws(StoreError) in
            for table in ["revoked_tokens", "revoked_subjects", "refresh_tokens", "refresh_families"] {
                try database.prepare("DELETE FROM \(table) WHERE expires_at <= ?1").run([.integer(now)])
            }
        }
        // Keep the write-ahead log from growing without bound between automatic checkpoints.
        try read { database throws(StoreError) in try database.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
    }
}
