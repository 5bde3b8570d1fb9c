import AuthdCore
import CSQLite

/// A minimal, owned SQLite connection. Not thread-safe by itself: each one is confined to the
/// serial queue of its ``SQLiteConnectionQueue``, which is what the unchecked `Sendable` relies on.
final class SQLiteDatabase: @unchecked Sendable {
    private var handle: OpaquePointer?
    let path: String
    /// Prepared statements by SQL text: the store runs the same few statements over and over, and
    /// compiling them again for every transaction showed in the profile of `revoke`.
    private var statements: [String: SQLiteStatement] = [:]
    private static let maximumCachedStatements = 64

    /// How a connection opens its file.
    enum OpenMode {
        /// Read and write, creating the file if there is none.
        case create
        /// Read and write an existing file.
        case readWrite
        /// Read only: closing it never checkpoints or otherwise writes.
        case readOnly

        var flags: Int32 {
            switch self {
            case .create: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
            case .readWrite: SQLITE_OPEN_READWRITE
            case .readOnly: SQLITE_OPEN_READONLY
            }
        }
    }

    /// Opens `path`.
    ///
    /// Every connection uses the `unix-excl` VFS: the first one to read takes an exclusive lock for
    /// this process (authd is the database's only user), and the WAL index lives on the heap,
    /// shared by this process's connections, instead of in a memory-mapped `-shm` file. A state
    /// directory that turns read-only or full then gives write errors that authd reports, never a
    /// SIGBUS that kills it, while readers still get their own connection beside the writer.
    init(path: String, mode: OpenMode = .create) throws(StoreError) {
        self.path = path
        var db: OpaquePointer?
        let flags = mode.flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW
        guard sqlite3_open_v2(path, &db, flags, "unix-excl") == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw StoreError("cannot open \(path): \(message)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 5000)
    }

    /// The raw handle, for the few calls this wrapper does not cover (the WAL hook, checkpoints).
    var rawHandle: OpaquePointer? { handle }

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
        return try statement.text(0)
    }

    /// The first column of the first row of a query, as an integer.
    func scalarInteger(_ sql: String) throws(StoreError) -> Int64? {
        let statement = try prepare(sql)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return try statement.integer(0)
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
            case .null: result = sqlite3_bind_null(statement, index)
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

    // Column readers check the stored type: a value of the wrong type (a damaged row, or one
    // written by hand) is a `corrupt_row` error naming the column, never read as 0 or "".

    /// Whether `column` holds NULL.
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    /// The integer in `column`.
    func integer(_ column: Int32) throws(StoreError) -> Int64 {
        try expect(SQLITE_INTEGER, in: column)
        return sqlite3_column_int64(statement, column)
    }

    /// The integer in `column`, read as a flag: only 0 and 1 are valid.
    func flag(_ column: Int32) throws(StoreError) -> Bool {
        switch try integer(column) {
        case 0: return false
        case 1: return true
        case let other: throw corrupt(column, "holds \(other), not 0 or 1")
        }
    }

    /// The text in `column`, which must be valid UTF-8.
    func text(_ column: Int32) throws(StoreError) -> String {
        try expect(SQLITE_TEXT, in: column)
        let count = Int(sqlite3_column_bytes(statement, column))
        guard let pointer = sqlite3_column_text(statement, column) else { return "" }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: count)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw corrupt(column, "is not valid UTF-8") }
        return text
    }

    /// The text in `column` as its UTF-8 bytes, lent to `body` without making a `String` (for
    /// reading millions of rows at start-up). The bytes are checked as ``text(_:)`` checks them.
    func withText<Result>(_ column: Int32, _ body: (UnsafeRawBufferPointer) -> Result) throws(StoreError) -> Result {
        try expect(SQLITE_TEXT, in: column)
        let pointer = sqlite3_column_text(statement, column)
        let bytes = UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : Int(sqlite3_column_bytes(statement, column)))
        // ASCII, as every token id authd mints is, needs no further check.
        guard bytes.allSatisfy({ $0 < 0x80 }) || String(validating: bytes, as: UTF8.self) != nil else {
            throw corrupt(column, "is not valid UTF-8")
        }
        return body(bytes)
    }

    /// The bytes in `column`.
    func blob(_ column: Int32) throws(StoreError) -> [UInt8] {
        try expect(SQLITE_BLOB, in: column)
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    private func expect(_ type: Int32, in column: Int32) throws(StoreError) {
        let stored = sqlite3_column_type(statement, column)
        guard stored == type else { throw corrupt(column, "holds \(Self.typeName(stored)), not \(Self.typeName(type))") }
    }

    /// A `corrupt_row` error naming the table's column; the value itself is never quoted.
    func corrupt(_ column: Int32, _ problem: String) -> StoreError {
        let table = sqlite3_column_table_name(statement, column).map { String(cString: $0) } ?? "?"
        let name = sqlite3_column_name(statement, column).map { String(cString: $0) } ?? "column \(column)"
        return StoreError(.corruptRow, "a row of \(table) cannot be read: \(name) \(problem) (\(database.path))")
    }

    private static func typeName(_ type: Int32) -> String {
        switch type {
        case SQLITE_INTEGER: "an integer"
        case SQLITE_FLOAT: "a real number"
        case SQLITE_TEXT: "text"
        case SQLITE_BLOB: "a blob"
        default: "NULL"
        }
    }
}

/// A value bound into a statement.
enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}
