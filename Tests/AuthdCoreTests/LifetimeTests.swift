@testable import AuthdCore
import AuthdProtocol
import Testing

@Suite("Token lifetimes against an injected clock")
struct LifetimeTests {
    @Test("exp is honoured with the leeway, to the second")
    func expiryEdge() throws {
        let fixture = try TokenFixture { $0.leeway = 30 }
        let token = try fixture.issue(ttl: 60)
        fixture.clock.advance(by: 60 + 29)
        #expect(fixture.verifyCode(token) == nil)
        fixture.clock.advance(by: 1)
        #expect(fixture.verifyCode(token) == .tokenExpired)
    }

    @Test("with zero leeway a token dies exactly at exp")
    func zeroLeeway() throws {
        let fixture = try TokenFixture { $0.leeway = 0 }
        let token = try fixture.issue(ttl: 10)
        fixture.clock.advance(by: 9)
        #expect(fixture.verifyCode(token) == nil)
        fixture.clock.advance(by: 1)
        #expect(fixture.verifyCode(token) == .tokenExpired)
    }

    @Test("nbf and iat in the future beyond the leeway are token_not_yet_valid")
    func notYetValid() throws {
        let fixture = try TokenFixture { $0.leeway = 30 }
        let now = fixture.clock.now()
        let soon = try fixture.craft(payload: fixture.claims(["nbf": "\(now + 30)"]))
        #expect(fixture.verifyCode(soon) == nil)
        let later = try fixture.craft(payload: fixture.claims(["nbf": "\(now + 31)"]))
        #expect(fixture.verifyCode(later) == .tokenNotYetValid)
        let futureIat = try fixture.craft(payload: fixture.claims(["iat": "\(now + 31)", "nbf": "<absent>"]))
        #expect(fixture.verifyCode(futureIat) == .tokenNotYetValid)
        fixture.clock.advance(by: 1)
        #expect(fixture.verifyCode(later) == nil)
    }

    @Test("default TTL, and a TTL above the maximum is refused, not clamped")
    func ttlLimits() throws {
        let fixture = try TokenFixture { $0.ttl = 900; $0.maximumTTL = 3600 }
        let result = try fixture.service.issuer.issue(IssueRequest(subject: "a"))
        #expect(result.expiresIn == 900)
        #expect(result.expiresAt == fixture.clock.now() + 900)
        #expect(try fixture.service.issuer.issue(IssueRequest(subject: "a", ttl: 3600)).expiresIn == 3600)
        for ttl: Int64 in [3601, 0, -5, Int64.max] {
            let error = #expect(throws: AuthdError.self) {
                try fixture.service.issuer.issue(IssueRequest(subject: "a", ttl: ttl))
            }
            #expect(error?.code == .badRequest)
        }
    }
}

@Suite("Issuing")
struct IssueTests {
    @Test("claims have the RFC 9068 shape, custom claims come back, reserved ones are refused")
    func claimsShape() throws {
        let fixture = try TokenFixture()
        let result = try fixture.service.issuer.issue(
            IssueRequest(subject: "alice", roles: ["user", "user", "ops"], audience: ["api", "web"], ttl: 120, claims: ["team": "blue"]))
        let verified = try fixture.verify(result.accessToken, audience: "web")
        #expect(verified.subject == "alice")
        #expect(verified.roles == ["user", "ops"])
        #expect(verified.audience == ["api", "web"])
        #expect(verified.issuer == "authd")
        #expect(verified.issuedAt == fixture.clock.now())
        #expect(verified.expiresAt == fixture.clock.now() + 120)
        #expect(verified.jti == result.jti)
        #expect(verified.claims == ["team": "blue"])
        // jti: 128 random bits, unique.
        #expect(Base64URL.decode(result.jti)?.count == 16)
        #expect(try fixture.service.issuer.issue(IssueRequest(subject: "alice")).jti != result.jti)
        for reserved in ["iss", "sub", "exp", "roles", "jti", "sid", "client_id"] {
            #expect(throws: AuthdError.self) {
                try fixture.service.issuer.issue(IssueRequest(subject: "a", claims: [reserved: "x"]))
            }
        }
    }

    @Test("the header is alg, typ at+jwt and kid")
    func header() throws {
        let fixture = try TokenFixture()
        let token = try fixture.issue()
        let headerSegment = String(token.split(separator: ".")[0])
        let header = try JSONParser().parse(try #require(Base64URL.decode(headerSegment)))
        #expect(header == .object(["alg": "EdDSA", "typ": "at+jwt", "kid": .string(fixture.activeKey.kid)]))
    }

    @Test("subjects and roles must be non-empty and free of control characters")
    func identifiers() throws {
        let fixture = try TokenFixture()
        for request in [
            IssueRequest(subject: ""), IssueRequest(subject: "a\nb"), IssueRequest(subject: "a", roles: [""]),
            IssueRequest(subject: String(repeating: "x", count: 2000)), IssueRequest(subject: "a", audience: []),
        ] {
            #expect(throws: AuthdError.self) { try fixture.service.issuer.issue(request) }
        }
    }

    @Test("audience: the default is required unless the caller names another; wrong audience is its own code")
    func audience() throws {
        let fixture = try TokenFixture()
        let local = try fixture.issue()
        #expect(fixture.verifyCode(local) == nil)
        #expect(fixture.verifyCode(local, audience: "billing") == .wrongAudience)
        let billing = try fixture.service.issuer.issue(IssueRequest(subject: "a", audience: ["billing"])).accessToken
        #expect(fixture.verifyCode(billing) == .wrongAudience)
        #expect(fixture.verifyCode(billing, audience: "billing") == nil)
    }

    @Test("roles_any and roles_all: insufficient_role for a good token, invalid_token wins for a bad one")
    func roles() throws {
        let fixture = try TokenFixture()
        let token = try fixture.issue(roles: ["user", "ops"])
        #expect(fixture.verifyCode(token, rolesAny: ["admin", "ops"]) == nil)
        #expect(fixture.verifyCode(token, rolesAny: ["admin"]) == .insufficientRole)
        #expect(fixture.verifyCode(token, rolesAll: ["user", "ops"]) == nil)
        #expect(fixture.verifyCode(token, rolesAll: ["user", "admin"]) == .insufficientRole)
        #expect(fixture.verifyCode(token + "x", rolesAny: ["admin"]) == .invalidToken)
        #expect(fixture.verifyCode(token, rolesAny: []) == .badRequest)
        fixture.clock.advance(by: 3600)
        #expect(fixture.verifyCode(token, rolesAny: ["admin"]) == .tokenExpired)
    }

    @Test("status counters count issued, verified and rejected")
    func counters() throws {
        let fixture = try TokenFixture()
        let token = try fixture.issue()
        _ = fixture.verifyCode(token)
        _ = fixture.verifyCode("garbage")
        _ = fixture.verifyCode(token, rolesAny: ["admin"])
        #expect(fixture.service.counters.issued == 1)
        #expect(fixture.service.counters.verified == 1)
        #expect(fixture.service.counters.rejected == 2)
    }
}
