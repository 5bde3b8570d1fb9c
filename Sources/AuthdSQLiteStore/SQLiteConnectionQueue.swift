import AuthdCore
import Dispatch

/// One SQLite connection and the serial queue it is confined to.
///
/// SQLite's calls block (on the disk, on `fsync`), so they never run on Swift's cooperative thread
/// pool, where a blocked thread is one fewer to serve requests: each connection has its own
/// dispatch queue, and callers await the result.
final class SQLiteConnectionQueue: @unchecked Sendable {
    /// Only touched on `queue`.
    private let database: SQLiteDatabase
    private let queue: DispatchQueue

    init(_ database: SQLiteDatabase, label: String) {
        self.database = database
        self.queue = DispatchQueue(label: label)
    }

    /// Runs `body` on the connection's queue. Cached statements are reset afterwards, so none
    /// holds a read snapshot open between units of work.
    func run<Value: Sendable>(
        _ body: @escaping @Sendable (SQLiteDatabase) throws(StoreError) -> Value
    ) async throws(StoreError) -> Value {
        let outcome: Result<Value, StoreError> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: self.runNow(body))
            }
        }
        return try outcome.get()
    }

    /// Runs `body` on the connection's queue without waiting for it.
    func schedule(_ body: @escaping @Sendable (SQLiteDatabase) -> Void) {
        queue.async {
            body(self.database)
            self.database.resetStatements()
        }
    }

    /// Runs `body` on the calling thread: only while the queue cannot be running anything else
    /// (while the store is being opened).
    func runNow<Value>(_ body: (SQLiteDatabase) throws(StoreError) -> Value) -> Result<Value, StoreError> {
        defer { database.resetStatements() }
        do throws(StoreError) {
            return .success(try body(database))
        } catch {
            return .failure(error)
        }
    }

    /// `body` inside one read transaction, so that several queries see the same snapshot.
    func read<Value: Sendable>(
        _ body: @escaping @Sendable (SQLiteDatabase) throws(StoreError) -> Value
    ) async throws(StoreError) -> Value {
        try await run { database throws(StoreError) -> Value in
            try database.prepare("BEGIN DEFERRED").run([])
            do throws(StoreError) {
                let value = try body(database)
                try database.prepare("COMMIT").run([])
                return value
            } catch {
                try? database.execute("ROLLBACK")
                throw error
            }
        }
    }
}
