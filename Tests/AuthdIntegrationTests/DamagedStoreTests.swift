import AuthdClient
import Foundation
@testable import AuthdSQLiteStore
import Testing

@Suite("A damaged row in the store, through the whole daemon")
struct DamagedStoreTests {
    @Test("a user row that cannot be decoded: login and user_list answer storage_failure, the log names the column, the daemon carries on")
    func damagedUserRow() async throws {
        let daemon = try await InProcessDaemon()
        let client = daemon.client()
        _ = try await client.addUser("alice", password: "wonderland", roles: ["user"])
        _ = try await client.addUser("bob", password: "through the looking glass", roles: ["user"])
        // Another connection in the same process (unix-excl lets it in), as a damaged disk or a
        // hand edit would leave the row.
        try SQLiteDatabase(path: daemon.stateDirectory + "/authd.db", mode: .readWrite)
            .execute("UPDATE users SET roles_json = 'user' WHERE username = 'alice'")

        let login = await #expect(throws: AuthdError.self) { try await client.login(username: "alice", password: "wonderland") }
        #expect(login?.code == .storageFailure)
        let listing = await #expect(throws: AuthdError.self) { try await client.listUsers() }
        #expect(listing?.code == .storageFailure)
        #expect(daemon.log.contains("storage failure"))
        #expect(daemon.log.contains("a row of users cannot be read: roles_json is not a JSON array of strings"))
        // Nothing else is affected: another user logs in, tokens verify.
        let bob = try await client.login(username: "bob", password: "through the looking glass")
        #expect(try await client.verify(token: bob.accessToken).subject == "bob")
        await client.close()
        #expect(await daemon.stop() == 0)
    }
}

@Suite("A database written by a newer authd, through the binary")
struct NewerDatabaseTests {
    @Test("authd refuses to start (exit 78), says which versions, and leaves the database byte for byte")
    func refusesNewerSchema() async throws {
        let directory = TemporaryDirectory()
        // A real database first: the daemon creates it, and is stopped.
        let first = try await DaemonProcess(directory: directory)
        _ = try await first.client().issue(subject: "alice")
        #expect(await first.stop() == 0)
        let path = directory.path + "/state/authd.db"
        try SQLiteDatabase(path: path, mode: .readWrite).execute("PRAGMA user_version = 7")
        // Both files, as authd left them (the log holds the last commits until a checkpoint).
        let files = [path, path + "-wal"]
        let before = files.map { try? Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(before[0] != nil)

        let refused = try await runCommand(
            Binaries.authd,
            ["--socket", directory.path + "/authd.sock", "--state-dir", directory.path + "/state", "--config", directory.path + "/authd.toml"])
        #expect(refused.status == 78)
        #expect(refused.stderr.contains("schema version 7"), "\(refused.stderr)")
        #expect(refused.stderr.contains("written by a newer authd"), "\(refused.stderr)")
        #expect(files.map { try? Data(contentsOf: URL(fileURLWithPath: $0)) } == before)
    }
}
