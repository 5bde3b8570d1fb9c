@testable import AuthdCore
import AuthdProtocol
import Testing

@Suite("The verified-token cache: hits skip the signature, never the rules that change")
struct VerifyCacheTests {
    @Test("a second verify of the same token is a hit; the claims are the same")
    func hit() throws {
        let fixture = try TokenFixture()
        let token = try fixture.issue(roles: ["user"])
        let first = try fixture.verify(token)
        #expect(fixture.service.verifier.cacheCount == 1)
        let second = try fixture.verify(token)
        #expect(first == second)
        #expect(fixture.service.verifier.cacheCount == 1)
        #expect(fixture.service.verifier.cacheStatistics == (1, 1))
    }

    @Test("a cached token is still refused when expired, revoked, for another audience or without the role")
    func rulesStillApply() throws {
        let fixture = try TokenFixture { $0.leeway = 0 }
        let token = try fixture.issue("alice", roles: ["user"], ttl: 60)
        _ = try fixture.verify(token)
        #expect(fixture.verifyCode(token, rolesAny: ["admin"]) == .insufficientRole)
        #expect(fixture.verifyCode(token, audience: "billing") == .wrongAudience)
        #expect(fixture.verifyCode(token) == nil)

        fixture.service.denylist.apply([.subject("alice", before: fixture.clock.now(), expiresAt: fixture.clock.now() + 3600)])
        #expect(fixture.verifyCode(token) == .tokenRevoked)

        let other = try fixture.issue("bob", ttl: 60)
        _ = try fixture.verify(other)
        fixture.clock.advance(by: 60)
        #expect(fixture.verifyCode(other) == .tokenExpired)
        // An expired token leaves the cache when it is met.
        #expect(fixture.service.verifier.cacheCount == 1)
    }

    @Test("any change to a cached token's bytes is a miss and fails in full")
    func exactKey() throws {
        let fixture = try TokenFixture()
        let token = try fixture.issue()
        _ = try fixture.verify(token)
        var tampered = Array(token.utf8)
        let index = tampered.count - 3
        tampered[index] = tampered[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(fixture.verifyCode(String(decoding: tampered, as: UTF8.self)) == .invalidToken)
        #expect(fixture.verifyCode(token + " ") == .invalidToken)
        #expect(fixture.verifyCode(" " + token) == .invalidToken)
        // The cache hashes only a token's last 32 bytes: a change before them (the payload's,
        // the signature's first half) lands in the same bucket and must still be a miss.
        let bytes = Array(token.utf8)
        for index in [bytes.count / 2, bytes.count - 33] {
            var changed = bytes
            changed[index] = changed[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect(fixture.verifyCode(String(decoding: changed, as: UTF8.self)) == .invalidToken)
        }
        #expect(fixture.service.verifier.cacheCount == 1)
        #expect(fixture.service.verifier.cacheStatistics.hits == 0)
    }

    @Test("the cache stays within its capacity, and 0 turns it off")
    func bounded() throws {
        let fixture = try TokenFixture { $0.verifyCacheEntries = 64 }
        for index in 0..<500 { _ = try fixture.verify(try fixture.issue("user-\(index)")) }
        #expect(fixture.service.verifier.cacheCount <= 64)
        #expect(fixture.service.verifier.cacheCount >= 32)

        let off = try TokenFixture { $0.verifyCacheEntries = 0 }
        let token = try off.issue()
        _ = try off.verify(token)
        _ = try off.verify(token)
        #expect(off.service.verifier.cacheCount == 0)
    }

    @Test("tokens in use survive a flood of one-off tokens")
    func hotTokensSurvive() throws {
        let fixture = try TokenFixture { $0.verifyCacheEntries = 1024 }
        let hot = try (0..<16).map { try fixture.issue("hot-\($0)") }
        for token in hot { _ = try fixture.verify(token) }
        for round in 0..<20 {
            // 100 one-off tokens per round (about 6 per shard; a shard keeps 2 × 32), then the hot set again.
            for index in 0..<100 { _ = try fixture.verify(try fixture.issue("cold-\(round)-\(index)")) }
            let before = fixture.service.verifier.cacheStatistics
            for token in hot { _ = try fixture.verify(token) }
            let after = fixture.service.verifier.cacheStatistics
            #expect(after.hits == before.hits + 16)
            #expect(after.misses == before.misses)
        }
        #expect(fixture.service.verifier.cacheCount <= 1024)
    }

    @Test("tokens that fail are never cached")
    func failuresNotCached() throws {
        let fixture = try TokenFixture()
        let wrongIssuer = try fixture.craft(payload: fixture.claims(["iss": #""someone-else""#]))
        #expect(fixture.verifyCode(wrongIssuer) == .invalidToken)
        #expect(fixture.verifyCode("a.b.c") == .invalidToken)
        #expect(fixture.service.verifier.cacheCount == 0)
    }

    @Test("verify_cache_entries is read from [tokens]")
    func configuration() throws {
        #expect(try AuthdConfiguration(toml: "").tokens.verifyCacheEntries == 16_384)
        #expect(try AuthdConfiguration(toml: "[tokens]\nverify_cache_entries = 0").tokens.verifyCacheEntries == 0)
        #expect(throws: StartupError.self) { try AuthdConfiguration(toml: "[tokens]\nverify_cache_entries = -1") }
    }
}
