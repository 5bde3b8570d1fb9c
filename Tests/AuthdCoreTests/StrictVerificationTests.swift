@testable import AuthdCore
import AuthdProtocol
import Crypto
import Foundation
import Testing

@Suite("Strict token verification (RFC 8725)")
struct StrictVerificationTests {
    @Test("a token crafted exactly like the daemon's verifies; the fixture is sound")
    func craftedBaselineVerifies() throws {
        let fixture = try TokenFixture()
        #expect(fixture.verifyCode(try fixture.craft()) == nil)
        #expect(fixture.verifyCode(try fixture.issue()) == nil)
    }

    @Test("unknown or missing kid is invalid_token; no fallback to a default key")
    func kid() throws {
        let fixture = try TokenFixture()
        let alg = fixture.activeKey.algorithm.name
        #expect(fixture.verifyCode(try fixture.craft(header: #"{"alg":"\#(alg)","typ":"at+jwt","kid":"nope"}"#)) == .invalidToken)
        #expect(fixture.verifyCode(try fixture.craft(header: #"{"alg":"\#(alg)","typ":"at+jwt"}"#)) == .invalidToken)
        #expect(fixture.verifyCode(try fixture.craft(header: #"{"alg":"\#(alg)","typ":"at+jwt","kid":7}"#)) == .invalidToken)
    }

    @Test("alg other than the key's is refused, including none in any spelling", arguments: ["none", "None", "NONE", "nOnE", "", "HS256", "ES256", "eddsa", "EdDSA "])
    func algorithmPinnedToKey(alg: String) throws {
        let fixture = try TokenFixture()
        let header = #"{"alg":"\#(alg)","typ":"at+jwt","kid":"\#(fixture.activeKey.kid)"}"#
        #expect(fixture.verifyCode(try fixture.craft(header: header)) == .invalidToken)
        // The unsigned form of the none attack: empty signature segment.
        let unsigned = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(fixture.claims().utf8)) + "."
        #expect(fixture.verifyCode(unsigned) == .invalidToken)
    }

    @Test("missing alg is refused")
    func missingAlg() throws {
        let fixture = try TokenFixture()
        #expect(fixture.verifyCode(try fixture.craft(header: #"{"typ":"at+jwt","kid":"\#(fixture.activeKey.kid)"}"#)) == .invalidToken)
    }

    @Test("HS256 signed with the public key as the secret (algorithm confusion) is refused")
    func algorithmConfusion() throws {
        let fixture = try TokenFixture()
        let kid = fixture.activeKey.kid
        let publicJWK = try #require(fixture.activeKey.publicJWK)
        let x = try #require(publicJWK["x"]?.stringValue)
        let publicBytes = try #require(Base64URL.decode(x))
        let header = #"{"alg":"HS256","typ":"at+jwt","kid":"\#(kid)"}"#
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(fixture.claims().utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: publicBytes))
        #expect(fixture.verifyCode(input + "." + Base64URL.encode(Array(mac))) == .invalidToken)
    }

    @Test("header parameters that import keys or semantics are refused", arguments: ["crit", "jwk", "jku", "x5u", "x5c"])
    func forbiddenHeaderParameters(name: String) throws {
        let fixture = try TokenFixture()
        let key = fixture.activeKey
        let value = name == "crit" ? #"["exp"]"# : (name == "x5c" ? #"["MIIB"]"# : (name == "jwk" ? #"{"kty":"OKP"}"# : #""https://evil.example/k""#))
        let header = #"{"alg":"\#(key.algorithm.name)","typ":"at+jwt","kid":"\#(key.kid)","\#(name)":\#(value)}"#
        #expect(fixture.verifyCode(try fixture.craft(header: header)) == .invalidToken)
    }

    @Test("typ must be at+jwt", arguments: [nil, "JWT", "jwt", "at+JWT2", "application/jwt", ""] as [String?])
    func typ(typ: String?) throws {
        let fixture = try TokenFixture()
        let key = fixture.activeKey
        let typMember = typ.map { #","typ":"\#($0)""# } ?? ""
        let header = #"{"alg":"\#(key.algorithm.name)","kid":"\#(key.kid)"\#(typMember)}"#
        #expect(fixture.verifyCode(try fixture.craft(header: header)) == .invalidToken)
    }

    @Test("the full media type application/at+jwt is accepted (RFC 9068 §4)")
    func typMediaType() throws {
        let fixture = try TokenFixture()
        let key = fixture.activeKey
        let header = #"{"alg":"\#(key.algorithm.name)","typ":"application/at+jwt","kid":"\#(key.kid)"}"#
        #expect(fixture.verifyCode(try fixture.craft(header: header)) == nil)
    }

    @Test("non-canonical base64url is refused: padding, + and /, white space, dangling or non-zero trailing bits")
    func canonicalBase64() throws {
        let fixture = try TokenFixture()
        let token = try fixture.craft()
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        #expect(fixture.verifyCode(parts[0] + "=." + parts[1] + "." + parts[2]) == .invalidToken)
        #expect(fixture.verifyCode(parts[0] + "." + parts[1] + "." + parts[2] + "==") == .invalidToken)
        #expect(fixture.verifyCode(parts[0] + "." + parts[1] + " ." + parts[2]) == .invalidToken)
        #expect(fixture.verifyCode(parts[0] + "." + parts[1] + "." + parts[2] + "A") == .invalidToken)
        let standardAlphabet = parts[2].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if standardAlphabet != parts[2] {
            #expect(fixture.verifyCode(parts[0] + "." + parts[1] + "." + standardAlphabet) == .invalidToken)
        }
        // An Ed25519 signature is 64 bytes: 86 characters, the last carrying 2 unused bits.
        // Setting them re-encodes the same bytes differently; that spelling must not verify.
        let last = parts[2].last!
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let index = alphabet.firstIndex(of: last)!
        let tweaked = String(parts[2].dropLast()) + String(alphabet[index | 1])
        #expect(Base64URL.decode(tweaked) == nil || index | 1 == index)
        if index | 1 != index {
            #expect(fixture.verifyCode(parts[0] + "." + parts[1] + "." + tweaked) == .invalidToken)
        }
    }

    @Test("base64url decoder: canonical round trips and refusals")
    func base64Decoder() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
        #expect(Base64URL.decode("QQ") == [0x41])
        #expect(Base64URL.decode("QR") == nil)  // non-zero trailing bits
        #expect(Base64URL.decode("QQ==") == nil)
        #expect(Base64URL.decode("Q") == nil)
        #expect(Base64URL.decode("a+b/") == nil)
    }

    @Test("wrong segment count, empty segments and tampering are refused")
    func structure() throws {
        let fixture = try TokenFixture()
        let token = try fixture.craft()
        let parts = token.split(separator: ".").map(String.init)
        #expect(fixture.verifyCode(parts[0] + "." + parts[1]) == .invalidToken)
        #expect(fixture.verifyCode(token + "." + parts[2]) == .invalidToken)
        #expect(fixture.verifyCode("") == .invalidToken)
        #expect(fixture.verifyCode("..") == .invalidToken)
        let forgedPayload = Base64URL.encode(Array(fixture.claims(["roles": #"["admin"]"#]).utf8))
        #expect(fixture.verifyCode(parts[0] + "." + forgedPayload + "." + parts[2]) == .invalidToken)
    }

    @Test("a token over 8 KiB is refused before anything else")
    func size() throws {
        let fixture = try TokenFixture()
        let big = try fixture.craft(payload: fixture.claims(["pad": "\"" + String(repeating: "x", count: 8192) + "\""]))
        #expect(big.utf8.count > 8192)
        #expect(fixture.verifyCode(big) == .invalidToken)
    }

    @Test("duplicate JSON keys in header or claims are refused")
    func duplicateKeys() throws {
        let fixture = try TokenFixture()
        let key = fixture.activeKey
        let header = #"{"alg":"\#(key.algorithm.name)","typ":"at+jwt","kid":"\#(key.kid)","kid":"\#(key.kid)"}"#
        #expect(fixture.verifyCode(try fixture.craft(header: header)) == .invalidToken)
        let payload = String(fixture.claims().dropLast()) + #","sub":"mallory"}"#
        #expect(fixture.verifyCode(try fixture.craft(payload: payload)) == .invalidToken)
    }

    @Test(
        "time claims must be numbers within range",
        arguments: [
            ["exp": #""1900000000""#], ["exp": "null"], ["exp": "<absent>"], ["exp": "1e20"], ["exp": "-1"],
            ["iat": #""now""#], ["iat": "<absent>"], ["nbf": "true"], ["nbf": "1e400"], ["iat": "[1]"],
        ])
    func timeClaims(override: [String: String]) throws {
        let fixture = try TokenFixture()
        #expect(fixture.verifyCode(try fixture.craft(payload: fixture.claims(override))) == .invalidToken)
    }

    @Test("required claims: iss must be ours, sub, jti and aud present, roles well-typed")
    func requiredClaims() throws {
        let fixture = try TokenFixture()
        for override in [
            ["iss": #""someone-else""#], ["iss": "<absent>"], ["sub": "<absent>"], ["sub": #""""#], ["jti": "<absent>"],
            ["aud": "<absent>"], ["aud": "5"], ["roles": #""admin""#], ["roles": "[1]"],
        ] {
            #expect(fixture.verifyCode(try fixture.craft(payload: fixture.claims(override))) == .invalidToken, "\(override)")
        }
    }

    @Test("a payload that is not a JSON object, or not JSON, is refused")
    func payloadShape() throws {
        let fixture = try TokenFixture()
        for payload in ["[]", "\"x\"", "{", "{\"a\":1}x", "null"] {
            #expect(fixture.verifyCode(try fixture.craft(payload: payload)) == .invalidToken, "\(payload)")
        }
    }
}
