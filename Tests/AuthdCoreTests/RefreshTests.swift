@testable import AuthdCore
import AuthdProtocol
import Foundation
import Logging
import Testing
import AuthdSQLiteStore

@Suite("Refresh tokens: rotation, reuse detection, revocation")
struct RefreshTests {
    struct Harness {
        let fixture: TokenFixture
        let store: SQLiteStore
        let refresher: RefreshService
        let revoker: Revoker

        init() throws {
            fixture = try TokenFixture { $0.refreshTTL = 3600 }
            store = try SQLiteStore(stateDirectory: fixture.stateDirectory)
            refresher = RefreshService(store: store, clock: fixture.clock)
            revoker = Revoker(store: store, clock: fixture.clock)
        }

        var service: TokenService { fixture.service }

        func login(_ subject: String = "alice") async throws -> IssueResult {
            try await refresher.issue(IssueRequest(subject: subject, roles: ["user"], refresh: true), tokens: service)
        }

        func refresh(_ token: String?) async throws -> IssueResult {
            try await refresher.refresh(RefreshRequest(refreshToken: token ?? ""), tokens: service)
        }

        func refreshCode(_ token: String?) async -> AuthdError.Code? {
            do {
                _ = try await refresh(token)
                return nil
            } catch let error as AuthdError {
                return error.code
            } catch {
                return .internalError
            }
        }

        func verifyCode(_ token: String) -> AuthdError.Code? { fixture.verifyCode(token) }

        func sid(_ token: String) throws -> String? { try fixture.verify(token).claims["sid"]?.stringValue }
    }

    @Test("rotation: a refresh spends the token and returns a new pair in the same family")
    func rotation() async throws {
        let harness = try Harness()
        let first = try await harness.login()
        let refreshToken = try #require(first.refreshToken)
        #expect(refreshToken.hasPrefix("authd_rt_"))
        #expect(Base64URL.decode(String(refreshToken.dropFirst(9)))?.count == 32)
        #expect(first.refreshExpiresAt == harness.fixture.clock.now() + 3600)
        let second = try await harness.refresh(refreshToken)
        #expect(second.refreshToken != refreshToken)
        #expect(try harness.fixture.verify(second.accessToken).roles == ["user"])
        #expect(try harness.sid(second.accessToken) == harness.sid(first.accessToken))
        #expect(try harness.sid(first.accessToken) != nil)
        let third = try await harness.refresh(second.refreshToken)
        #expect(harness.verifyCode(third.accessToken) == nil)
    }

    @Test("reuse of a spent refresh token revokes the whole family, access tokens included")
    func reuse() async throws {
        let harness = try Harness()
        let first = try await harness.login()
        let second = try await harness.refresh(first.refreshToken)
        #expect(await harness.refreshCode(first.refreshToken) == .refreshReused)
        #expect(harness.verifyCode(first.accessToken) == .tokenRevoked)
        #expect(harness.verifyCode(second.accessToken) == .tokenRevoked)
        #expect(await harness.refreshCode(second.refreshToken) == .tokenRevoked)
        // Another session of the same subject is untouched.
        let other = try await harness.login()
        #expect(harness.verifyCode(other.accessToken) == nil)
        // After a restart the family stays revoked.
        let denylist = Denylist()
        denylist.load(try await harness.store.revocations(now: harness.fixture.clock.now()))
        let restarted = try TokenService(
            configuration: harness.fixture.configuration, stateDirectory: harness.fixture.stateDirectory,
            clock: harness.fixture.clock, denylist: denylist, logger: Logger(label: "t"))
        #expect(throws: AuthdError.self) { try restarted.verifier.verify(VerifyRequest(token: second.accessToken)) }
        #expect(throws: Never.self) { try restarted.verifier.verify(VerifyRequest(token: other.accessToken)) }
    }

    @Test("two concurrent refreshes with one token: exactly one wins")
    func concurrentRefresh() async throws {
        let harness = try Harness()
        let first = try await harness.login()
        let codes = await withTaskGroup(of: AuthdError.Code?.self) { group in
            for _ in 0..<8 { group.addTask { await harness.refreshCode(first.refreshToken) } }
            return await group.reduce(into: [AuthdError.Code?]()) { $0.append($1) }
        }
        #expect(codes.filter { $0 == nil }.count == 1)
        #expect(codes.filter { $0 == .refreshReused || $0 == .tokenRevoked }.count == 7)
    }

    @Test("unknown, expired, malformed refresh tokens and access tokens are invalid_refresh_token")
    func invalid() async throws {
        let harness = try Harness()
        let first = try await harness.login()
        #expect(await harness.refreshCode("authd_rt_" + Base64URL.encode([UInt8](repeating: 7, count: 32))) == .invalidRefreshToken)
        #expect(await harness.refreshCode("authd_rt_short") == .invalidRefreshToken)
        #expect(await harness.refreshCode(first.accessToken) == .invalidRefreshToken)
        #expect(harness.verifyCode(try #require(first.refreshToken)) == .invalidToken)
        harness.fixture.clock.advance(by: 3600)
        #expect(await harness.refreshCode(first.refreshToken) == .invalidRefreshToken)
    }

    @Test("revoking a refresh token, or the subject, ends the session")
    func revocation() async throws {
        let harness = try Harness()
        let session = try await harness.login("bob")
        #expect(try await harness.revoker.revoke(RevokeRequest(.refreshToken(try #require(session.refreshToken))), tokens: harness.service).revoked == 1)
        #expect(harness.verifyCode(session.accessToken) == .tokenRevoked)
        #expect(await harness.refreshCode(session.refreshToken) == .tokenRevoked)

        for bogus in ["authd_rt_" + Base64URL.encode([UInt8](repeating: 1, count: 32)), "not-a-refresh-token"] {
            let error = await #expect(throws: AuthdError.self) {
                try await harness.revoker.revoke(RevokeRequest(.refreshToken(bogus)), tokens: harness.service)
            }
            #expect(error?.code == .invalidRefreshToken)
        }

        let carol = try await harness.login("carol")
        _ = try await harness.revoker.revoke(RevokeRequest(.subject("carol", before: nil)), tokens: harness.service)
        #expect(await harness.refreshCode(carol.refreshToken) == .tokenRevoked)
    }

    @Test("a subject revocation outlives the refresh tokens issued before it, even after pruning")
    func subjectRevocationOutlivesRefreshTokens() async throws {
        let fixture = try TokenFixture { $0.refreshTTL = 28_800 }
        let store = try SQLiteStore(stateDirectory: fixture.stateDirectory)
        let refresher = RefreshService(store: store, clock: fixture.clock)
        let session = try await refresher.issue(IssueRequest(subject: "carol", refresh: true), tokens: fixture.service)
        _ = try await Revoker(store: store, clock: fixture.clock).revoke(RevokeRequest(.subject("carol", before: nil)), tokens: fixture.service)
        // Past the access tokens' horizon (max_ttl + leeway), but within the refresh token's life.
        fixture.clock.advance(by: fixture.configuration.maximumTTL + fixture.configuration.leeway + 60)
        try await store.prune(now: fixture.clock.now())
        fixture.service.denylist.prune(now: fixture.clock.now())
        let error = await #expect(throws: AuthdError.self) {
            try await refresher.refresh(RefreshRequest(refreshToken: session.refreshToken ?? ""), tokens: fixture.service)
        }
        #expect(error?.code == .tokenRevoked)
    }

    @Test("only hashes are stored: the refresh token never appears in the database files")
    func hashesOnly() async throws {
        let harness = try Harness()
        let session = try await harness.login()
        let token = try #require(session.refreshToken)
        let files = try FileManager.default.contentsOfDirectory(atPath: harness.fixture.stateDirectory).filter { $0.hasPrefix("authd.db") }
        #expect(!files.isEmpty)
        for file in files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: harness.fixture.stateDirectory + "/" + file))
            #expect(bytes.range(of: Data(token.utf8)) == nil, "\(file)")
            #expect(bytes.range(of: Data(token.dropFirst(9).utf8)) == nil, "\(file)")
        }
    }
}
