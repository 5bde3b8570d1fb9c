import CSQLite

/// A failure of the store: the disk is full or read-only, the database is corrupt, and so on.
/// Nothing that failed was acknowledged.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public let message: String

    /// A store error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// A minimal, owned SQLite connection. Not thread-safe by itself: ``SQLiteStore`` only touches it
/// while holding its mutex, which is what the unchecked `Sendable` relies on.
final class SQLiteDatabase: @unchecked Sendable {
    private var handle: OpaquePointer?
    let path: String
    /// Prepared statements by SQL text: the store runs the same few statements over and over, and
    /// compiling them again for every transaction showed in the profile of `revoke`.
    private var statements: [String: SQLiteStatement] = [:]
    private static let maximumCachedStatements = 64

    init(path: String) throws(StoreError) {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW
        guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw StoreError("cannot open \(path): \(message)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 5000)
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws(StoreError) {
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &error) == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? lastError
            sqlite3_free(error)
            throw StoreError("\(message) (\(path))")
        }
    }

    /// A prepared statement for `sql`, compiled once and then reused. Callers bind (which resets)
    /// before each use; ``resetStatements()`` ends every statement's read when a unit of work is done.
    func prepare(_ sql: String) throws(StoreError) -> SQLiteStatement {
        if let cached = statements[sql] { return cached }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK,
            let statement
        else {
            throw StoreError("cannot prepare statement: \(lastError)")
        }
        let prepared = SQLiteStatement(statement: statement, database: self)
        if statements.count < Self.maximumCachedStatements { statements[sql] = prepared }
        return prepared
    }

    /// Resets every cached statement, so none holds a read snapshot open between units of work.
    func resetStatements() {
        for statement in statements.values { statement.reset() }
    }

    /// Rows changed by the last statement.
    var changes: Int { Int(sqlite3_changes(handle)) }

    /// The first column of the first row of a query, as text.
    func scalarText(_ sql: String) throws(StoreError) -> String? {
        let statement = try prepare(sql)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return statement.text(0)
    }
}

/// A prepared statement, reset for reuse after each run.
final class SQLiteStatement {
    private let statement: OpaquePointer
    // Unowned: the database caches its statements, and finalizes them before it closes.
    private unowned let database: SQLiteDatabase

    init(statement: OpaquePointer, database: SQLiteDatabase) {
        self.statement = statement
        self.database = database
    }

    deinit { sqlite3_finalize(statement) }

    func reset() { sqlite3_reset(statement) }

    func bind(_ values: [SQLiteValue]) throws(StoreError) {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let result: Int32
            switch value {
            case .integer(let number): result = sqlite3_bind_int64(statement, index, number)
            case .text(let text): result = sqlite3_bind_text(statement, index, text, -1, csqlite_transient())
            case .blob(let bytes):
                result = bytes.withUnsafeBytes {
                    sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), csqlite_transient())
                }
            }
            guard result == SQLITE_OK else { throw StoreError("cannot bind parameter \(index): \(database.lastError)") }
        }
    }

    /// Advances; `true` while there is a row.
    func step() throws(StoreError) -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw StoreError(database.lastError)
        }
    }

    /// Binds and runs a statement that returns no rows.
    func run(_ values: [SQLiteValue]) throws(StoreError) {
        try bind(values)
        while try step() {}
    }

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(statement, column) else { return nil }
        return String(cString: pointer)
    }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}

/// A value bound into a statement.
enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
}
