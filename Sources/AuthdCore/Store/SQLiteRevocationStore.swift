import Dispatch
import Synchronization

/// The default ``RevocationStore``: one SQLite file in the state directory, in WAL mode with
/// `synchronous=FULL`, so a committed transaction survives a crash or power loss.
///
/// Writes go through one serial writer. Whatever has queued up while the previous transaction
/// was committing is written in the next single transaction (group commit): under load, one fsync
/// serves many requests, and each caller still resumes only after its own data is durable.
public final class SQLiteRevocationStore: RevocationStore {
    private struct Pending {
        let records: [RevocationRecord]
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct Queue {
        var pending: [Pending] = []
        var flushScheduled = false
    }

    private let writer: Mutex<SQLiteDatabase>
    private let queue = Mutex(Queue())
    private let writerQueue = DispatchQueue(label: "authd.store.writer")
    /// The database path.
    public let path: String

    /// Opens (creating if needed) `authd.db` in `stateDirectory`.
    public init(stateDirectory: String) throws(StoreError) {
        path = stateDirectory + "/authd.db"
        let database = try SQLiteDatabase(path: path)
        let mode = try database.scalarText("PRAGMA journal_mode=WAL")
        guard mode == "wal" else { throw StoreError("cannot switch \(path) to WAL mode (got \(mode ?? "nothing"))") }
        try database.execute(
            """
            PRAGMA synchronous=FULL;
            PRAGMA foreign_keys=ON;
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
            """)
        writer = Mutex(database)
    }

    public func record(_ records: [RevocationRecord]) async throws(StoreError) {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let schedule = queue.withLock { queue -> Bool in
                    queue.pending.append(Pending(records: records, continuation: continuation))
                    guard !queue.flushScheduled else { return false }
                    queue.flushScheduled = true
                    return true
                }
                if schedule { writerQueue.async { self.flush() } }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("\(error)")
        }
    }

    /// Writes everything queued so far in one transaction, then resumes its callers.
    private func flush() {
        let batch = queue.withLock { queue -> [Pending] in
            defer {
                queue.pending = []
                queue.flushScheduled = false
            }
            return queue.pending
        }
        guard !batch.isEmpty else { return }
        let outcome: Result<Void, StoreError> = writer.withLock { database in
            Result { () throws(StoreError) in try Self.write(batch.flatMap(\.records), to: database) }
        }
        for pending in batch {
            switch outcome {
            case .success: pending.continuation.resume()
            case .failure(let error): pending.continuation.resume(throwing: error)
            }
        }
    }

    private static func write(_ records: [RevocationRecord], to database: SQLiteDatabase) throws(StoreError) {
        try database.execute("BEGIN IMMEDIATE")
        do throws(StoreError) {
            let token = try database.prepare(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2) ON CONFLICT(jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)")
            let subject = try database.prepare(
                """
                INSERT INTO revoked_subjects (subject, revoked_before, expires_at) VALUES (?1, ?2, ?3)
                ON CONFLICT(subject) DO UPDATE SET revoked_before = max(revoked_before, excluded.revoked_before),
                    expires_at = max(expires_at, excluded.expires_at)
                """)
            for record in records {
                switch record {
                case .token(let jti, let expiresAt): try token.run([.text(jti), .integer(expiresAt)])
                case .subject(let name, let before, let expiresAt):
                    try subject.run([.text(name), .integer(before), .integer(expiresAt)])
                }
            }
            try database.execute("COMMIT")
        } catch {
            try? database.execute("ROLLBACK")
            throw error
        }
    }

    public func load(now: Int64) throws(StoreError) -> RevocationSnapshot {
        try writer.withLock { database throws(StoreError) -> RevocationSnapshot in
            var snapshot = RevocationSnapshot()
            let tokens = try database.prepare("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?1")
            try tokens.bind([.integer(now)])
            while try tokens.step() {
                snapshot.tokens.append((tokens.text(0) ?? "", tokens.integer(1)))
            }
            let subjects = try database.prepare(
                "SELECT subject, revoked_before, expires_at FROM revoked_subjects WHERE expires_at > ?1")
            try subjects.bind([.integer(now)])
            while try subjects.step() {
                snapshot.subjects.append((subjects.text(0) ?? "", subjects.integer(1), subjects.integer(2)))
            }
            return snapshot
        }
    }

    public func prune(now: Int64) async throws(StoreError) {
        try writer.withLock { database throws(StoreError) in
            try database.execute("BEGIN IMMEDIATE")
            do throws(StoreError) {
                try database.prepare("DELETE FROM revoked_tokens WHERE expires_at <= ?1").run([.integer(now)])
                try database.prepare("DELETE FROM revoked_subjects WHERE expires_at <= ?1").run([.integer(now)])
                try database.execute("COMMIT")
            } catch {
                try? database.execute("ROLLBACK")
                throw error
            }
            // Keep the WAL from growing without bound between automatic checkpoints.
            try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// `PRAGMA integrity_check`, for tests and operators.
    public func integrityCheck() throws(StoreError) -> String {
        try writer.withLock { database throws(StoreError) in try database.scalarText("PRAGMA integrity_check") ?? "" }
    }
}
