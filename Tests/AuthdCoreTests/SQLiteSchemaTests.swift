@testable import AuthdCore
@testable import AuthdSQLiteStore
import AuthdProtocol
import Crypto
import Dispatch
import Foundation
import Testing

@Suite("SQLite store: schema versions, migrations, damaged rows")
struct SQLiteSchemaTests {
    /// When the fixture database was written (see Fixtures/README.md).
    static let fixtureTime: Int64 = 1_796_067_560

    /// A state directory holding a copy of the fixture database.
    static func fixtureCopy() throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/authd-schema1.db")
        try FileManager.default.copyItem(atPath: fixture.path, toPath: directory.path + "/authd.db")
        return directory
    }

    /// A raw connection beside the store, to set up what a store would never write.
    static func raw(_ directory: TemporaryDirectory, _ sql: String) throws {
        try SQLiteDatabase(path: directory.path + "/authd.db", mode: .readWrite).execute(sql)
    }

    static func version(_ directory: TemporaryDirectory) throws -> Int64 {
        try SQLiteSchema.version(of: SQLiteDatabase(path: directory.path + "/authd.db", mode: .readWrite))
    }

    @Test("a database from before schema versions is migrated and keeps every revocation, user and refresh family")
    func migratesTodaysDatabase() async throws {
        let directory = try Self.fixtureCopy()
        #expect(try Self.version(directory) == 0)
        let store = try SQLiteStore(stateDirectory: directory.path)
        #expect(try await store.schemaVersion() == SQLiteStore.currentSchemaVersion)
        #expect(SQLiteStore.currentSchemaVersion == 3)

        let now = Self.fixtureTime + 10
        let snapshot = try await store.revocations(now: now)
        #expect(snapshot.tokens.holds(exactly: ["fixture-jti-1"]))
        #expect(Set(snapshot.subjects.map(\.subject)) == ["dave", "mallory"])
        #expect(snapshot.families.map(\.id) == ["CsbWSSiYVGPqJNCD-wXivQ"])

        let users = try await store.users()
        #expect(users.map(\.username) == ["carol", "dave"])
        #expect(users.map(\.roles) == [["admin", "user"], ["user"]])
        #expect(users.map(\.disabled) == [false, true])
        let hasher = try PasswordHasher(parameters: AccountConfiguration().argon2, maximumConcurrentHashes: 1)
        #expect(try await hasher.verify("correct horse battery", against: users[0].passwordHash))

        // bob's refresh token still rotates, with the grant it was issued with.
        let bobToken = "authd_rt_2_XTD2-fTW6kA3I1yVNTdXobOHViRDbf6GXCbkcpqz8"
        let presented = Array(SHA256.hash(data: Array(bobToken.utf8)))
        #expect(try await store.familyID(ofToken: presented) == "2qj3VD_yZayn3G4BxsGzBw")
        let rotation = try await store.rotate(
            presented: presented, successor: Array(repeating: 7, count: 32), now: now, successorExpiresAt: now + 3600,
            revocationExpiry: now + 3600)
        guard case .rotated(let family, let grant, _) = rotation else {
            Issue.record("expected a rotation, got \(rotation)")
            return
        }
        #expect(family == "2qj3VD_yZayn3G4BxsGzBw")
        #expect(grant == RefreshGrant(subject: "bob", roles: ["user"], audience: nil, ttl: 900, claims: [:]))
        #expect(try await store.integrityCheck() == "ok")
        // Version 2's indexes are there (4), and version 3's fleet tables with their expiry index.
        let database = try SQLiteDatabase(path: directory.path + "/authd.db", mode: .readWrite)
        let indexes = try database.scalarInteger("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE '%_expiry'")
        #expect(indexes == 5)
        let fleetTables = try database.scalarInteger(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('fleet_outbox', 'fleet_state', 'fleet_revoked_families')")
        #expect(fleetTables == 3)
    }

    @Test("a migration that fails changes nothing: the version and the schema stay as they were")
    func failedMigrationRollsBack() throws {
        let directory = try Self.fixtureCopy()
        // Version 1, with a table in the way of migration 2's first index.
        try Self.raw(directory, "PRAGMA user_version = 1; CREATE TABLE revoked_subjects_expiry (x);")
        let error = #expect(throws: StoreError.self) { try SQLiteStore(stateDirectory: directory.path) }
        #expect(error?.message.contains("from schema version 1") == true)
        #expect(try Self.version(directory) == 1)
        let created = try SQLiteDatabase(path: directory.path + "/authd.db", mode: .readWrite)
            .scalarInteger("SELECT count(*) FROM sqlite_master WHERE name = 'refresh_families_expiry'")
        #expect(created == 0)
    }

    @Test("a database written by a newer authd is refused with a clear message and left byte for byte")
    func newerDatabaseRefused() throws {
        let directory = try Self.fixtureCopy()
        try Self.raw(directory, "PRAGMA user_version = 99")
        let path = directory.path + "/authd.db"
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let error = #expect(throws: StoreError.self) { try SQLiteStore(stateDirectory: directory.path) }
        #expect(error?.code == .unsupportedSchema)
        #expect(error?.message.contains("schema version 99") == true)
        #expect(error?.message.contains("newer authd") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
    }

    @Test("damaged rows are corrupt_row errors that name the column, never empty values")
    func damagedRows() async throws {
        let directory = TemporaryDirectory()
        let store = try SQLiteStore(stateDirectory: directory.path)
        try Self.raw(
            directory,
            """
            INSERT INTO users VALUES ('eve', '$argon2id$x', 'not json', 0, 1, 1);
            INSERT INTO users VALUES ('fay', '$argon2id$x', '["a", 5]', 0, 1, 1);
            INSERT INTO users VALUES ('gus', '$argon2id$x', '[]', 7, 1, 1);
            """)
        for name in ["eve", "fay", "gus"] {
            let error = await #expect(throws: StoreError.self) { try await store.user(named: name) }
            #expect(error?.code == .corruptRow, "\(name)")
            #expect(error?.message.contains("a row of users cannot be read") == true, "\(name): \(error?.message ?? "")")
        }
        let listing = await #expect(throws: StoreError.self) { try await store.users() }
        #expect(listing?.code == .corruptRow)

        try Self.raw(directory, "INSERT INTO revoked_tokens VALUES ('j', 'soon')")
        let load = await #expect(throws: StoreError.self) { try await store.revocations(now: 0) }
        #expect(load?.code == .corruptRow)
        #expect(load?.message.contains("expires_at holds text, not an integer") == true, "\(load?.message ?? "")")

        let hash = Array(repeating: UInt8(1), count: 32)
        try Self.raw(
            directory,
            """
            INSERT INTO refresh_families VALUES ('fam', '{"sub":"x","ttl":60,"roles":"admin","claims":{}}', 1, 9999999999, 0);
            INSERT INTO refresh_tokens VALUES (x'\(hash.map { String(format: "%02x", $0) }.joined())', 'fam', 0, 9999999999);
            """)
        let rotate = await #expect(throws: StoreError.self) {
            try await store.rotate(presented: hash, successor: [2], now: 10, successorExpiresAt: 20, revocationExpiry: 20)
        }
        #expect(rotate?.code == .corruptRow)
        #expect(rotate?.message.contains("grant_json is not a refresh grant") == true, "\(rotate?.message ?? "")")
    }

    @Test("the database and its log are created 0600 whatever the umask: they hold password hashes")
    func privateFiles() async throws {
        let directory = TemporaryDirectory()
        let previous = umask(0o022)
        defer { umask(previous) }
        let store = try SQLiteStore(stateDirectory: directory.path)
        try await store.record([.token(jti: "j", expiresAt: 100)])
        for name in ["authd.db", "authd.db-wal"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.path + "/" + name)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(name)")
        }
    }

    @Test("a read never waits for the writer: it answers while a write transaction is held open")
    func readsDoNotWaitForTheWriter() async throws {
        let directory = TemporaryDirectory()
        let store = try SQLiteStore(stateDirectory: directory.path)
        let record = UserRecord(username: "alice", passwordHash: "$argon2id$x", roles: ["user"], disabled: false, createdAt: 1, updatedAt: 1)
        #expect(try await store.createUser(record))
        // A unit of work on the writer that holds its transaction open until the read is done.
        let release = DispatchSemaphore(value: 0)
        let writing = Task {
            try await store.perform { database throws(StoreError) in
                try database.prepare("INSERT INTO revoked_tokens (jti, expires_at) VALUES ('held', 5)").run([])
                _ = release.wait(timeout: .now() + 30)
            }
        }
        // If reads queued behind the writer, this would wait the full 30 s and then see the row.
        let started = ContinuousClock.now
        let read = try await store.user(named: "alice")
        let snapshot = try await store.revocations(now: 0)
        let elapsed = ContinuousClock.now - started
        release.signal()
        try await writing.value
        #expect(read == record)
        #expect(snapshot.tokens.isEmpty, "the reader sees the last commit, not the open transaction")
        #expect(elapsed < .seconds(20), "the read waited \(elapsed) for the writer")
        #expect(try await store.revocations(now: 0).tokens.holds(exactly: ["held"]))
    }

    @Test("a unit of work that fails inside a group commit is undone and answered alone; the rest of the batch commits")
    func oneFailureDoesNotFailTheBatch() async throws {
        let directory = TemporaryDirectory()
        let store = try SQLiteStore(stateDirectory: directory.path)
        // Hold the writer, so that the next two units queue up and run in one transaction.
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holding = Task {
            try await store.perform { _ throws(StoreError) in
                started.signal()
                _ = release.wait(timeout: .now() + 30)
            }
        }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                started.wait()
                continuation.resume()
            }
        }
        // One unit writes, then finds a damaged row; the other is an ordinary revocation.
        let failing = Task {
            try await store.perform { database throws(StoreError) in
                try database.prepare("INSERT INTO revoked_tokens (jti, expires_at) VALUES ('partial', 500)").run([])
                throw StoreError(.corruptRow, "a row of users cannot be read")
            }
        }
        let revocation = Task { try await store.record([.token(jti: "innocent", expiresAt: 500)]) }
        while store.queuedUnitsOfWork < 2 { try await Task.sleep(for: .milliseconds(1)) }
        release.signal()
        try await holding.value
        let failed = await failing.result
        #expect(throws: StoreError.self) { try failed.get() }
        #expect(try await revocation.value == .local)
        // The innocent unit committed; the failing one's own write was undone.
        #expect(try await store.revocations(now: 0).tokens.holds(exactly: ["innocent"]))
    }

    @Test("pruning deletes in batches, every expired row and nothing else")
    func pruningInBatches() async throws {
        let directory = TemporaryDirectory()
        let store = try SQLiteStore(stateDirectory: directory.path)
        let count = SQLiteStore.pruneBatch * 2 + 17
        try await store.record((0..<count).map { .token(jti: "old-\($0)", expiresAt: 100) } + [.token(jti: "new", expiresAt: 500)])
        try await store.prune(now: 200)
        #expect(try await store.revocations(now: 0).tokens.holds(exactly: ["new"]))
        #expect(await store.checkpoint() >= 0)
    }

    @Test("the write-ahead log stays bounded under back-to-back commits, with no checkpoint inside them")
    func walBounded() async throws {
        let directory = TemporaryDirectory()
        let store = try SQLiteStore(stateDirectory: directory.path)
        // 2,000 commits of 10 rows each: about 60 MB of log if nothing were copied back.
        for round in 0..<2_000 {
            try await store.record((0..<10).map { .token(jti: "r\(round)-\($0)-\(String(repeating: "x", count: 40))", expiresAt: 100) })
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.path + "/authd.db-wal")
        let size = try #require(attributes[.size] as? Int)
        #expect(size < 12 << 20, "WAL is \(size) bytes")
        #expect(try await store.revocations(now: 0).tokens.count == 20_000)
    }
}

