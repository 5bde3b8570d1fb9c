public import AuthdCore
import CSQLite
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The default store: one SQLite file in the state directory, in WAL mode with `synchronous=FULL`,
/// so a committed transaction survives a crash or power loss.
///
/// Three connections, each on its own thread (``SQLiteConnectionQueue``), none on Swift's
/// cooperative pool:
/// - the **writer** runs every change. Whatever queued up while the previous transaction was
///   committing runs in the next single transaction (group commit): under load one `fsync` serves
///   many requests, and each caller resumes only once its own work is durable. Being serial, it
///   also makes "spend this refresh token" atomic.
/// - the **reader** answers reads from the last committed state. In WAL mode it never waits for
///   the writer, so a login's user look-up does not queue behind someone else's `fsync`.
/// - the **checkpointer** copies the write-ahead log back into the database in the background.
///   SQLite would otherwise do that inside whichever commit crossed the threshold, on that
///   request's path (see ``WALCheckpointer``). Pruning runs on the writer, but in small
///   transactions of its own between request batches.
public final class SQLiteStore: AuthdStore {
    private struct Pending {
        let work: @Sendable (SQLiteDatabase) throws(StoreError) -> Void
        let complete: @Sendable (StoreError?) -> Void
    }

    private struct Queue {
        var pending: [Pending] = []
        var flushScheduled = false
    }

    private let writer: SQLiteConnectionQueue
    private let reader: SQLiteConnectionQueue
    private let checkpointer: WALCheckpointer
    private let queue = Mutex(Queue())
    /// The database path.
    public let path: String

    /// Rows deleted per pruning transaction: small enough that requests queued behind one wait
    /// for about one commit.
    static let pruneBatch = 1_000

    /// Opens (creating if needed) `authd.db` in `stateDirectory`, migrating an older schema.
    ///
    /// - Throws: ``StoreError`` with ``StoreError/Code/unsupportedSchema`` for a database written
    ///   by a newer authd (left untouched), or ``StoreError/Code/unavailable`` when it cannot be
    ///   opened, switched to WAL mode or migrated.
    public init(stateDirectory: String) throws(StoreError) {
        path = stateDirectory + "/authd.db"
        // The version is read on a read-only connection before anything else opens the file, so
        // a refused database stays byte for byte (closing a writable one could checkpoint its log).
        let version: Int64
        if access(path, F_OK) == 0 {
            version = try Self.readVersionLeavingFilesAlone(path)
            try SQLiteSchema.checkSupported(version, path: path)
        } else {
            version = 0
            // Created here, 0600, rather than by SQLite with whatever the process's umask allows:
            // the database holds password hashes. (SQLite gives its -wal file the same mode.)
            let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw StoreError("cannot create \(path): \(String(cString: strerror(errno)))") }
            close(descriptor)
        }
        let writerDatabase = try SQLiteDatabase(path: path)
        let mode = try writerDatabase.scalarText("PRAGMA journal_mode=WAL")
        guard mode == "wal" else { throw StoreError("cannot switch \(path) to WAL mode (got \(mode ?? "nothing"))") }
        try writerDatabase.execute(
            """
            PRAGMA synchronous=FULL;
            PRAGMA wal_autocheckpoint=0;
            PRAGMA journal_size_limit=67108864;
            """)
        try SQLiteSchema.migrate(writerDatabase, from: version)
        let readerDatabase = try SQLiteDatabase(path: path, mode: .readWrite)
        let checkpointDatabase = try SQLiteDatabase(path: path, mode: .readWrite)
        for database in [readerDatabase, checkpointDatabase] {
            try database.execute("PRAGMA wal_autocheckpoint=0")
            // A connection learns that the file is in WAL mode when it first reads the header;
            // until then a checkpoint on it does nothing at all.
            let mode = try database.scalarText("PRAGMA journal_mode")
            guard mode == "wal" else { throw StoreError("\(path) is not in WAL mode for a second connection (\(mode ?? "nothing"))") }
        }
        writer = SQLiteConnectionQueue(writerDatabase, label: "authd.store.writer")
        reader = SQLiteConnectionQueue(readerDatabase, label: "authd.store.reader")
        checkpointer = WALCheckpointer(
            connection: SQLiteConnectionQueue(checkpointDatabase, label: "authd.store.checkpoint"))
        checkpointer.watch(writerDatabase)
    }

    /// The schema version recorded in the database at `path` (its log included), read on a
    /// read-only connection that is closed again. SQLite creates an empty `-wal` beside a WAL-mode
    /// database even for reading; if there was none before, that empty file is removed again, so a
    /// refused database is left exactly as it was found.
    private static func readVersionLeavingFilesAlone(_ path: String) throws(StoreError) -> Int64 {
        let log = path + "-wal"
        let logExisted = access(log, F_OK) == 0
        defer {
            var status = stat()
            if !logExisted, stat(log, &status) == 0, status.st_size == 0 { unlink(log) }
        }
        return try SQLiteSchema.version(of: SQLiteDatabase(path: path, mode: .readOnly))
    }

    /// The schema version the database is at (the newest this authd knows, once opened).
    public func schemaVersion() async throws(StoreError) -> Int64 {
        try await reader.run { database throws(StoreError) in try SQLiteSchema.version(of: database) }
    }

    /// The newest schema version this authd knows.
    public static var currentSchemaVersion: Int64 { SQLiteSchema.currentVersion }

    // MARK: Units of work

    /// Runs `work` inside the next group-committed transaction and returns its result once that
    /// transaction is durable. If the commit fails, every caller in the batch gets the error and
    /// none of their work is kept.
    func perform<Value: Sendable>(
        _ work: @escaping @Sendable (SQLiteDatabase) throws(StoreError) -> Value
    ) async throws(StoreError) -> Value {
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
            if schedule { writer.schedule { database in self.flush(database) } }
        }
        return try outcome.get()
    }

    /// Runs everything queued so far in one transaction, then completes its callers.
    ///
    /// Each unit of work runs in a savepoint of its own: one that fails (a damaged row, say) is
    /// undone and answered with its own error, while the others in the batch still commit. Only a
    /// failure of the transaction itself (the commit, or SQLite rolling everything back after an
    /// I/O error, which makes the savepoint's rollback fail too) fails every caller.
    private func flush(_ database: SQLiteDatabase) {
        let batch = queue.withLock { queue -> [Pending] in
            defer {
                queue.pending = []
                queue.flushScheduled = false
            }
            return queue.pending
        }
        guard !batch.isEmpty else { return }
        var unitFailures = [StoreError?](repeating: nil, count: batch.count)
        let failure = Self.transaction(database) { database throws(StoreError) in
            for (index, pending) in batch.enumerated() {
                try database.prepare("SAVEPOINT unit").run([])
                do throws(StoreError) {
                    try pending.work(database)
                } catch {
                    try database.prepare("ROLLBACK TO unit").run([])
                    unitFailures[index] = error
                }
                try database.prepare("RELEASE unit").run([])
            }
        }
        for (pending, unitFailure) in zip(batch, unitFailures) { pending.complete(failure ?? unitFailure) }
        checkpointer.catchUp(on: database)
    }

    /// Units of work waiting for the next group commit (for tests).
    var queuedUnitsOfWork: Int { queue.withLock { $0.pending.count } }

    /// `body` in one write transaction; the error, if it (or the commit) failed and was rolled back.
    private static func transaction(
        _ database: SQLiteDatabase, _ body: (SQLiteDatabase) throws(StoreError) -> Void
    ) -> StoreError? {
        do throws(StoreError) {
            try database.prepare("BEGIN IMMEDIATE").run([])
        } catch {
            return error
        }
        do throws(StoreError) {
            try body(database)
            try database.prepare("COMMIT").run([])
            return nil
        } catch {
            try? database.execute("ROLLBACK")
            return error
        }
    }

    /// Runs `body` in a transaction of its own on the writer, after whatever is queued before it,
    /// not batched with requests (maintenance that must not hold up their commits for long).
    func performAlone<Value: Sendable>(
        _ body: @escaping @Sendable (SQLiteDatabase) throws(StoreError) -> Value
    ) async throws(StoreError) -> Value {
        try await writer.run { database throws(StoreError) -> Value in
            let result = Mutex<Value?>(nil)
            if let error = Self.transaction(database, { database throws(StoreError) in
                let value = try body(database)
                result.withLock { $0 = value }
            }) {
                throw error
            }
            return result.withLock { $0 }!
        }
    }

    /// A read of the last committed state, on the reader's connection.
    func read<Value: Sendable>(
        _ body: @escaping @Sendable (SQLiteDatabase) throws(StoreError) -> Value
    ) async throws(StoreError) -> Value {
        try await reader.read(body)
    }

    // MARK: Maintenance

    public func prune(now: Int64) async throws(StoreError) {
        let batch = Self.pruneBatch
        for table in Self.prunedTables {
            while true {
                let deleted = try await performAlone { database throws(StoreError) -> Int in
                    try database.prepare(
                        """
                        DELETE FROM \(table.name) WHERE \(table.key) IN
                            (SELECT \(table.key) FROM \(table.name) WHERE expires_at <= ?1 LIMIT ?2)
                        """
                    ).run([.integer(now), .integer(Int64(batch))])
                    return database.changes
                }
                if deleted < batch { break }
            }
        }
        // Catch up the log in the background; the next writer then starts it again from the top.
        checkpointer.requestCheckpoint()
    }

    /// The tables pruning deletes from, each with its key (the tables are WITHOUT ROWID).
    private static let prunedTables: [(name: String, key: String)] = [
        ("revoked_tokens", "jti"), ("revoked_subjects", "subject"), ("refresh_tokens", "token_hash"),
        ("refresh_families", "family_id"), ("fleet_revoked_families", "family_id"),
    ]

    /// Runs a passive checkpoint now and returns the frames left in the write-ahead log (for
    /// tests and operators), or -1 if the checkpoint failed.
    public func checkpoint() async -> Int {
        await checkpointer.checkpointNow()
    }

    /// `PRAGMA integrity_check`, for tests and operators.
    public func integrityCheck() async throws(StoreError) -> String {
        try await reader.run { database throws(StoreError) in try database.scalarText("PRAGMA integrity_check") ?? "" }
    }
}

/// Keeps the write-ahead log short without checkpointing inside anyone's commit.
///
/// The writer's WAL hook (called on the writer's thread after each commit, with the frames now in
/// the log) asks for a `PASSIVE` checkpoint on a connection of its own once the log passes half
/// of ``threshold``, and again every quarter of it: it copies pages back into the database,
/// `fsync` included, without ever making the writer wait. The log can only start again from the
/// top when a write begins with everything already copied, and under steady load the writer
/// always has one more commit than the background copy, so past ``threshold`` the writer finishes
/// the copy itself, between batches, after their callers have their replies: the few frames the
/// background missed.
final class WALCheckpointer: Sendable {
    /// SQLite's own default auto-checkpoint threshold, in frames (pages).
    static let threshold: Int32 = 1_000

    private let connection: SQLiteConnectionQueue
    private let scheduled = Atomic<Bool>(false)
    private let frames = Atomic<Int32>(0)
    private let lastRequest = Atomic<Int32>(0)

    init(connection: SQLiteConnectionQueue) { self.connection = connection }

    /// Installs the hook on the writer's connection.
    func watch(_ writer: SQLiteDatabase) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_wal_hook(
            writer.rawHandle,
            { context, _, _, frames in
                if let context { Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(frames: frames) }
                return SQLITE_OK
            }, context)
    }

    /// Called on the writer's thread only. A background copy is asked for every quarter of the
    /// threshold the log grows by, not after every commit: each copy ends in an `fsync` of the
    /// database, which competes with the writer's own.
    private func committed(frames: Int32) {
        self.frames.store(frames, ordering: .relaxed)
        let last = lastRequest.load(ordering: .relaxed)
        // A smaller count than last time means the log started again from the top.
        if frames >= Self.threshold / 2, frames < last || frames - last >= Self.threshold / 4 {
            lastRequest.store(frames, ordering: .relaxed)
            requestCheckpoint()
        }
    }

    /// Schedules a background passive checkpoint unless one is already waiting to run.
    func requestCheckpoint() {
        guard scheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return
        }
        connection.schedule { database in
            self.scheduled.store(false, ordering: .releasing)
            _ = Self.checkpoint(database)
        }
    }

    /// On the writer's queue, between batches: finishes the copy when the log is long, so the
    /// next write starts it again from the top.
    func catchUp(on writer: SQLiteDatabase) {
        guard frames.load(ordering: .relaxed) >= Self.threshold else { return }
        if Self.checkpoint(writer) >= 0 {
            frames.store(0, ordering: .relaxed)
            lastRequest.store(0, ordering: .relaxed)
        }
    }

    /// A passive checkpoint now on the background connection; returns the frames in the log.
    func checkpointNow() async -> Int {
        (try? await connection.run { database throws(StoreError) in Self.checkpoint(database) }) ?? -1
    }

    /// Returns the frames in the log, or -1 when the checkpoint failed (disk full, read-only: the
    /// log stays as it is, and the next commit asks again).
    private static func checkpoint(_ database: SQLiteDatabase) -> Int {
        var logFrames: Int32 = 0
        var checkpointed: Int32 = 0
        let result = sqlite3_wal_checkpoint_v2(database.rawHandle, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &checkpointed)
        return result == SQLITE_OK ? Int(logFrames) : -1
    }
}
