@testable import AuthdCore
import AuthdProtocol
import Foundation
import Logging
import Testing
import AuthdSQLiteStore

@Suite("Revocation: durable store, in-memory denylist, revoke semantics")
struct RevocationTests {
    /// A token service, a store in the same state directory and a revoker, sharing one clock.
    struct Harness {
        let fixture: TokenFixture
        let store: SQLiteStore
        let revoker: Revoker

        init() throws {
            let base = try TokenFixture()
            fixture = base
            store = try SQLiteStore(stateDirectory: base.stateDirectory)
            revoker = Revoker(store: store, clock: base.clock)
        }

        var service: TokenService { fixture.service }

        func revoke(_ target: RevokeRequest.Target) async throws -> Int64 {
            try await revoker.revoke(RevokeRequest(target), tokens: service).revoked
        }

        /// A restarted daemon: a new service over the same files, its denylist loaded from disk.
        /// (The store holds an exclusive lock for this process, so the open store does the reading.)
        func restarted() async throws -> (TokenService, SQLiteStore) {
            let denylist = Denylist()
            denylist.load(try await store.revocations(now: fixture.clock.now()))
            let service = try TokenService(
                configuration: fixture.configuration, stateDirectory: fixture.stateDirectory, clock: fixture.clock,
                denylist: denylist, logger: Logger(label: "t"))
            return (service, store)
        }
    }

    func code(_ service: TokenService, _ token: String) -> AuthdError.Code? {
        do {
            _ = try service.verifier.verify(VerifyRequest(token: token))
            return nil
        } catch {
            return error.code
        }
    }

    @Test("revoking a token refuses it (token_revoked), also re-encoded, and after a restart")
    func revokeToken() async throws {
        let harness = try Harness()
        let token = try harness.fixture.issue()
        let other = try harness.fixture.issue()
        #expect(try await harness.revoke(.token(token)) == 1)
        #expect(code(harness.service, token) == .tokenRevoked)
        #expect(code(harness.service, other) == nil)
        // The same claims under a differently spelt (still valid) header: a new string, the same jti.
        let claims = String(decoding: Base64URL.decode(String(token.split(separator: ".")[1]))!, as: UTF8.self)
        let key = harness.fixture.activeKey
        let respelt = try harness.fixture.craft(
            header: #"{"kid":"\#(key.kid)","typ":"AT+JWT","alg":"\#(key.algorithm.name)"}"#, payload: claims)
        #expect(respelt != token)
        #expect(code(harness.service, respelt) == .tokenRevoked)
        let (restarted, _) = try await harness.restarted()
        #expect(code(restarted, token) == .tokenRevoked)
        #expect(code(restarted, other) == nil)
    }

    @Test("revoking by jti, and revoking a subject up to a time")
    func revokeJTIAndSubject() async throws {
        let harness = try Harness()
        let byID = try harness.service.issuer.issue(IssueRequest(subject: "carol"))
        #expect(try await harness.revoke(.jti(byID.jti)) == 1)
        #expect(code(harness.service, byID.accessToken) == .tokenRevoked)

        let early = try harness.fixture.issue("dave")
        harness.fixture.clock.advance(by: 10)
        let cutoff = harness.fixture.clock.now()
        let atCutoff = try harness.fixture.issue("dave")
        #expect(try await harness.revoke(.subject("dave", before: nil)) == 1)
        harness.fixture.clock.advance(by: 1)
        let later = try harness.fixture.issue("dave")
        #expect(code(harness.service, early) == .tokenRevoked)
        #expect(code(harness.service, atCutoff) == .tokenRevoked, "issued at the cutoff \(cutoff): revoked")
        #expect(code(harness.service, later) == nil)
        #expect(code(harness.service, try harness.fixture.issue("erin")) == nil)
        let (restarted, _) = try await harness.restarted()
        #expect(code(restarted, early) == .tokenRevoked)
        #expect(code(restarted, later) == nil)
    }

    @Test("a forged token cannot be revoked (invalid_token); an expired one needs no revoking")
    func revokeRefusals() async throws {
        let harness = try Harness()
        let token = try harness.fixture.issue(ttl: 60)
        await #expect(throws: AuthdError.self) { try await harness.revoke(.token(token + "x")) }
        harness.fixture.clock.advance(by: 3600)
        #expect(try await harness.revoke(.token(token)) == 0)
        await #expect(throws: AuthdError.self) { try await harness.revoke(.subject("", before: nil)) }
        await #expect(throws: AuthdError.self) { try await harness.revoke(.subject("a", before: -5)) }
    }

    @Test("the request decodes exactly one target")
    func requestShape() throws {
        #expect(try RevokeRequest(fields: ["jti": "x"]).target == .jti("x"))
        #expect(try RevokeRequest(fields: ["sub": "a", "before": 5]).target == .subject("a", before: 5))
        for fields: JSONObject in [[:], ["jti": "x", "sub": "a"], ["token": "t", "before": 1], ["jti": 5], ["sub": "a", "x": 1]] {
            #expect(throws: AuthdError.self) { try RevokeRequest(fields: fields) }
        }
    }

    @Test("group commit: 500 concurrent revocations, every one durable after reopening")
    func groupCommit() async throws {
        let directory = TemporaryDirectory()
        do {
            let store = try SQLiteStore(stateDirectory: directory.path)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<500 {
                    group.addTask { try await store.record([.token(jti: "jti-\(index)", expiresAt: 2_000_000_000)]) }
                }
                try await group.waitForAll()
            }
        }
        let reopened = try SQLiteStore(stateDirectory: directory.path)
        let snapshot = try await reopened.revocations(now: 1_800_000_000)
        #expect(snapshot.tokens.holds(exactly: (0..<500).map { "jti-\($0)" }))
        #expect(try await reopened.integrityCheck() == "ok")
    }

    @Test("pruning drops only what has expired, in the store and in memory")
    func pruning() async throws {
        let directory = TemporaryDirectory()
        let store = try SQLiteStore(stateDirectory: directory.path)
        let records: [RevocationRecord] = [
            .token(jti: "old", expiresAt: 100), .token(jti: "new", expiresAt: 300), .subject("s", before: 50, expiresAt: 150),
        ]
        try await store.record(records)
        let denylist = Denylist()
        denylist.apply(records)
        try await store.prune(now: 200)
        denylist.prune(now: 200)
        let snapshot = try await store.revocations(now: 0)
        #expect(snapshot.tokens.holds(exactly: ["new"]))
        #expect(snapshot.subjects.isEmpty)
        #expect(denylist.count == (1, 0))
        #expect(denylist.isRevoked(jti: "new", subject: "x", issuedAt: 0))
        #expect(!denylist.isRevoked(jti: "old", subject: "s", issuedAt: 10))
    }

    @Test("denylist keys: authd's 128-bit jtis are used as they are, other spellings hashed")
    func denylistKeys() {
        let jti = Base64URL.encode((0..<16).map { UInt8($0) })
        let key = Denylist.key(for: jti)
        #expect(key.high == 0x0001_0203_0405_0607)
        #expect(key.low == 0x0809_0A0B_0C0D_0E0F)
        #expect(Denylist.key(for: "py-123") != Denylist.key(for: "py-124"))
        #expect(Denylist.key(for: "py-123") == Denylist.key(for: "py-123"))
    }
}
