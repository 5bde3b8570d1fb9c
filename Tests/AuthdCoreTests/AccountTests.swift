@testable import AuthdCore
import AuthdProtocol
import Testing
import AuthdSQLiteStore

@Suite("Accounts: login and the user admin ops")
struct AccountTests {
    struct Harness {
        let fixture: TokenFixture
        let store: SQLiteStore
        let accounts: AccountService

        init(_ configure: (inout AccountConfiguration) -> Void = { _ in }) throws {
            fixture = try TokenFixture()
            store = try SQLiteStore(stateDirectory: fixture.stateDirectory)
            var configuration = AccountConfiguration()
            configure(&configuration)
            accounts = try AccountService(configuration: configuration, store: store, clock: fixture.clock)
        }

        var tokens: TokenService { fixture.service }

        @discardableResult
        func add(_ name: String, _ password: String, roles: [String] = []) async throws -> UserInfo {
            try await accounts.add(UserAddRequest(username: name, password: password, roles: roles), tokens: tokens).user
        }

        func login(_ name: String, _ password: String, audience: [String]? = nil) async throws(LoginRefusal) -> IssueResult {
            try await accounts.login(LoginRequest(username: name, password: password, audience: audience), tokens: tokens)
        }

        /// The wire code and the logged reason of a refused login, or nil if it succeeded.
        func refusal(_ name: String, _ password: String, audience: [String]? = nil) async -> (AuthdError.Code, String)? {
            do {
                _ = try await login(name, password, audience: audience)
                return nil
            } catch {
                return (error.error.code, error.reason)
            }
        }

        func code(_ body: () async throws -> some Any) async -> AuthdError.Code? {
            do {
                _ = try await body()
                return nil
            } catch let error as AuthdError {
                return error.code
            } catch {
                return .internalError
            }
        }
    }

    @Test("login returns an access token with the user's roles and a refresh token")
    func loginSucceeds() async throws {
        let harness = try Harness()
        try await harness.add("alice", "wonderland", roles: ["user", "reader"])
        let result = try await harness.login("alice", "wonderland")
        let claims = try harness.fixture.verify(result.accessToken)
        #expect(claims.subject == "alice")
        #expect(claims.roles == ["user", "reader"])
        #expect(claims.audience == ["local"])
        #expect(result.refreshToken?.hasPrefix("authd_rt_") == true)
        let refreshed = try await RefreshService(store: harness.store, clock: harness.fixture.clock)
            .refresh(RefreshRequest(refreshToken: result.refreshToken ?? ""), tokens: harness.tokens)
        #expect(try harness.fixture.verify(refreshed.accessToken).roles == ["user", "reader"])
    }

    @Test("wrong password, unknown user and disabled user all answer invalid_credentials; the log tells them apart")
    func refusals() async throws {
        let harness = try Harness()
        try await harness.add("alice", "wonderland")
        try await harness.add("bob", "builder!!")
        _ = try await harness.accounts.disable(UserDisableRequest(username: "bob"), tokens: harness.tokens)
        let wrong = await harness.refusal("alice", "Wonderland")
        let unknown = await harness.refusal("mallory", "wonderland")
        let disabled = await harness.refusal("bob", "builder!!")
        #expect(wrong?.0 == .invalidCredentials)
        #expect(unknown?.0 == .invalidCredentials)
        #expect(disabled?.0 == .invalidCredentials)
        #expect(wrong?.1 == "wrong_password")
        #expect(unknown?.1 == "unknown_user")
        #expect(disabled?.1 == "disabled")
        _ = try await harness.accounts.enable(UserEnableRequest(username: "bob"), tokens: harness.tokens)
        harness.fixture.clock.advance(by: 1)
        #expect(await harness.refusal("bob", "builder!!") == nil)
    }

    @Test("a password over 4 KiB is refused as bad_request, and counts as no attempt")
    func oversizedPassword() async throws {
        let harness = try Harness()
        try await harness.add("alice", "wonderland")
        let refusal = await harness.refusal("alice", String(repeating: "x", count: 4097))
        #expect(refusal?.0 == .badRequest)
        #expect(harness.accounts.hasher.peakConcurrentHashes == 1)
        let adding = await harness.code { try await harness.add("bob", String(repeating: "x", count: 4097)) }
        #expect(adding == .badRequest)
    }

    @Test("repeated failures for one username are throttled, known or not; others are unaffected")
    func throttling() async throws {
        let harness = try Harness {
            $0.throttle.maximumFailures = 3
            $0.throttle.lockout = 60
        }
        try await harness.add("alice", "wonderland")
        for _ in 0..<3 { #expect(await harness.refusal("alice", "nope")?.0 == .invalidCredentials) }
        // Even the right password is refused while locked, without hashing.
        #expect(await harness.refusal("alice", "wonderland")?.0 == .tooManyAttempts)
        for _ in 0..<3 { _ = await harness.refusal("ghost", "nope") }
        #expect(await harness.refusal("ghost", "nope")?.0 == .tooManyAttempts)
        #expect(await harness.refusal("carol", "nope")?.0 == .invalidCredentials)
        harness.fixture.clock.advance(by: 61)
        #expect(await harness.refusal("alice", "wonderland") == nil)
    }

    @Test("login may ask only for the allowed audiences")
    func audiences() async throws {
        let harness = try Harness { $0.loginAudiences = ["local", "billing"] }
        try await harness.add("alice", "wonderland")
        let billing = try await harness.login("alice", "wonderland", audience: ["billing"])
        #expect(try harness.fixture.verify(billing.accessToken, audience: "billing").audience == ["billing"])
        #expect(await harness.refusal("alice", "wonderland", audience: ["admin-api"])?.0 == .permissionDenied)
        let defaults = try Harness()
        try await defaults.add("alice", "wonderland")
        #expect(await defaults.refusal("alice", "wonderland", audience: ["billing"])?.0 == .permissionDenied)
    }

    @Test("user_add validates the name, the password and the roles, and refuses duplicates")
    func addValidation() async throws {
        let harness = try Harness()
        try await harness.add("alice", "wonderland", roles: ["user", "user"])
        #expect(try await harness.accounts.list().users.map(\.roles) == [["user"]])
        #expect(await harness.code { try await harness.add("alice", "another-one") } == .userExists)
        for name in ["Alice", "", ".alice", "al ice", "al\u{0}ice", String(repeating: "a", count: 65), "ålice"] {
            #expect(await harness.code { try await harness.add(name, "wonderland") } == .badRequest, "\(name)")
        }
        #expect(await harness.code { try await harness.add("bob", "short") } == .badRequest)
        #expect(await harness.code { try await harness.add("bob", "wonderland", roles: ["bad\nrole"]) } == .badRequest)
        #expect(try await harness.accounts.list().users.map(\.username) == ["alice"])
    }

    @Test("set_password, set_roles, disable and delete revoke the user's tokens and sessions; enable does not")
    func changesEndSessions() async throws {
        let harness = try Harness()
        let refresher = RefreshService(store: harness.store, clock: harness.fixture.clock)
        func session() async throws -> IssueResult { try await harness.login("alice", "wonderland") }
        func refreshCode(_ result: IssueResult) async -> AuthdError.Code? {
            await harness.code { try await refresher.refresh(RefreshRequest(refreshToken: result.refreshToken ?? ""), tokens: harness.tokens) }
        }
        try await harness.add("alice", "wonderland", roles: ["admin"])
        try await harness.add("bob", "builder!!")
        let bob = try await harness.login("bob", "builder!!")

        var before = try await session()
        _ = try await harness.accounts.setRoles(UserSetRolesRequest(username: "alice", roles: ["user"]), tokens: harness.tokens)
        #expect(harness.fixture.verifyCode(before.accessToken) == .tokenRevoked)
        #expect(await refreshCode(before) == .tokenRevoked)
        harness.fixture.clock.advance(by: 1)
        before = try await session()
        #expect(try harness.fixture.verify(before.accessToken).roles == ["user"])

        harness.fixture.clock.advance(by: 1)
        _ = try await harness.accounts.setPassword(UserSetPasswordRequest(username: "alice", password: "looking-glass"), tokens: harness.tokens)
        #expect(harness.fixture.verifyCode(before.accessToken) == .tokenRevoked)
        #expect(await harness.refusal("alice", "wonderland")?.0 == .invalidCredentials)
        harness.fixture.clock.advance(by: 1)
        before = try await harness.login("alice", "looking-glass")

        harness.fixture.clock.advance(by: 1)
        _ = try await harness.accounts.disable(UserDisableRequest(username: "alice"), tokens: harness.tokens)
        #expect(harness.fixture.verifyCode(before.accessToken) == .tokenRevoked)
        #expect(await refreshCode(before) == .tokenRevoked)
        let enabled = try await harness.accounts.enable(UserEnableRequest(username: "alice"), tokens: harness.tokens).user
        #expect(!enabled.disabled)
        harness.fixture.clock.advance(by: 1)
        before = try await harness.login("alice", "looking-glass")
        _ = try await harness.accounts.enable(UserEnableRequest(username: "alice"), tokens: harness.tokens)
        #expect(harness.fixture.verifyCode(before.accessToken) == nil)

        harness.fixture.clock.advance(by: 1)
        let deleted = try await harness.accounts.delete(UserDeleteRequest(username: "alice"), tokens: harness.tokens).user
        #expect(deleted.username == "alice")
        #expect(harness.fixture.verifyCode(before.accessToken) == .tokenRevoked)
        #expect(await harness.refusal("alice", "looking-glass")?.1 == "unknown_user")

        // Bob was never touched.
        #expect(harness.fixture.verifyCode(bob.accessToken) == nil)
        // Ops on a missing user.
        #expect(await harness.code { try await harness.accounts.delete(UserDeleteRequest(username: "alice"), tokens: harness.tokens) } == .unknownUser)
        #expect(await harness.code { try await harness.accounts.disable(UserDisableRequest(username: "zed"), tokens: harness.tokens) } == .unknownUser)
    }

    @Test("users, hashes and the revocations of user changes survive a restart; hashes never leave the store")
    func durability() async throws {
        let fixture = try TokenFixture()
        do {
            let store = try SQLiteStore(stateDirectory: fixture.stateDirectory)
            let accounts = try AccountService(configuration: AccountConfiguration(), store: store, clock: fixture.clock)
            _ = try await accounts.add(UserAddRequest(username: "alice", password: "wonderland", roles: ["user"]), tokens: fixture.service)
            _ = try await accounts.disable(UserDisableRequest(username: "alice"), tokens: fixture.service)
            let listed = try await accounts.list()
            #expect(!JSONWriter.string(.object(listed.result)).contains("argon2"))
        }
        // The daemon is gone; a new one opens the same files.
        let reopened = try SQLiteStore(stateDirectory: fixture.stateDirectory)
        let record = try #require(try await reopened.user(named: "alice"))
        #expect(record.passwordHash.hasPrefix("$argon2id$"))
        #expect(record.disabled)
        #expect(record.roles == ["user"])
        let denylist = Denylist()
        denylist.load(try await reopened.revocations(now: fixture.clock.now()))
        #expect(denylist.isSubjectRevoked("alice", issuedAt: fixture.clock.now()))
    }

    @Test("a login in the same second as a password change gets a live token")
    func sameSecondRelogin() async throws {
        let harness = try Harness()
        try await harness.add("alice", "wonderland")
        _ = try await harness.accounts.setPassword(UserSetPasswordRequest(username: "alice", password: "looking-glass"), tokens: harness.tokens)
        // The manual clock does not move by itself: move it while login waits out the second.
        async let result = harness.login("alice", "looking-glass")
        try await Task.sleep(for: .milliseconds(200))
        harness.fixture.clock.advance(by: 1)
        #expect(harness.fixture.verifyCode(try await result.accessToken) == nil)
    }

    @Test("the [users] table: defaults, limits, and weaker-than-OWASP argon2 refused")
    func configuration() throws {
        let defaults = try AuthdConfiguration(toml: "")
        #expect(defaults.users.argon2 == Argon2Parameters(memoryKiB: 19_456, iterations: 2, parallelism: 1))
        #expect(defaults.users.maximumConcurrentHashes == 2)
        let custom = try AuthdConfiguration(
            toml: """
                [users]
                argon2_memory_kib = 47104
                argon2_iterations = 1
                max_concurrent_hashes = 4
                min_password_length = 12
                max_failures = 10
                failure_window = "1h"
                lockout = "10m"
                login_audiences = ["local", "billing"]
                """)
        #expect(custom.users.argon2.memoryKiB == 47_104)
        #expect(custom.users.throttle.window == 3600)
        #expect(custom.users.throttle.lockout == 600)
        #expect(custom.users.loginAudiences == ["local", "billing"])
        for bad in [
            "[users]\nargon2_memory_kib = 8192\nargon2_iterations = 1", "[users]\nargon2_memory_kib = 1024",
            "[users]\nlockout = 600\nfailure_window = 60", "[users]\nmax_concurrent_hashes = 0", "[users]\nlogin_audiences = []",
            "[users]\nunknown = 1",
        ] {
            #expect(throws: StartupError.self, "\(bad)") { try AuthdConfiguration(toml: bad) }
        }
    }
}
