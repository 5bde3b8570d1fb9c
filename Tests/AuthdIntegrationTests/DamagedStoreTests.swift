import AuthdClient
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
