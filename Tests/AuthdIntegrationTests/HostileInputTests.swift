import AuthdClient
import AuthdProtocol
import Foundation
import Testing

/// Hostile requests and tokens through the real daemon, one table. Every line must get its
/// expected error code, and the daemon must go on answering (a `ping` follows each).
@Suite("Hostile input through the real daemon: the right code for each, no crash, no stall")
struct HostileInputTests {
    struct Case: Sendable {
        let name: String
        let line: [UInt8]
        let code: AuthdError.Code

        init(_ name: String, _ line: String, _ code: AuthdError.Code) {
            self.name = name
            self.line = Array(line.utf8)
            self.code = code
        }

        init(_ name: String, bytes: [UInt8], _ code: AuthdError.Code) {
            self.name = name
            self.line = bytes
            self.code = code
        }
    }

    static func b64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static let requests: [Case] = [
        Case("nesting 10,000 deep", String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000), .badRequest),
        Case("object nesting in a field", #"{"op":"issue","sub":"a","claims":"# + String(repeating: #"{"a":"#, count: 40) + "1" + String(repeating: "}", count: 40) + "}", .badRequest),
        Case("ttl 1e300", #"{"op":"issue","sub":"a","ttl":1e300}"#, .badRequest),
        Case("ttl negative", #"{"op":"issue","sub":"a","ttl":-5}"#, .badRequest),
        Case("ttl zero", #"{"op":"issue","sub":"a","ttl":0}"#, .badRequest),
        Case("ttl beyond 64 bits", #"{"op":"issue","sub":"a","ttl":99999999999999999999999}"#, .badRequest),
        Case("ttl Int64.min", #"{"op":"issue","sub":"a","ttl":-9223372036854775808}"#, .badRequest),
        Case("ttl as a string", #"{"op":"issue","sub":"a","ttl":"60"}"#, .badRequest),
        Case("ttl fraction", #"{"op":"issue","sub":"a","ttl":1.5}"#, .badRequest),
        Case("number 1e400", #"{"op":"ping","x":1e400}"#, .badRequest),
        Case("id 1e400", #"{"id":1e400,"op":"ping"}"#, .badRequest),
        Case("id beyond 64 bits", #"{"id":123456789012345678901234567890,"op":"ping"}"#, .badRequest),
        Case("id an object", #"{"id":{},"op":"ping"}"#, .badRequest),
        Case("revoke before negative", #"{"op":"revoke","sub":"a","before":-1}"#, .badRequest),
        Case("revoke before year 2e11", #"{"op":"revoke","sub":"a","before":200000000000}"#, .badRequest),
        Case("revoke before Int64.max", #"{"op":"revoke","sub":"a","before":9223372036854775807}"#, .badRequest),
        Case("a reply-shaped request", #"{"id":1,"ok":true,"result":{}}"#, .badRequest),
        Case("an error-shaped request", #"{"ok":false,"error":{"code":"x","message":"y"}}"#, .badRequest),
        Case("unknown op with a 60 KB field", #"{"op":"frobnicate","f":""# + String(repeating: "a", count: 60_000) + #""}"#, .unknownOp),
        Case("op with control characters", #"{"op":"\u0001\n\u001b[31m"}"#, .unknownOp),
        Case("invalid UTF-8", bytes: Array(#"{"op":"ping","x":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), .badRequest),
        Case("overlong UTF-8 slash", bytes: Array(#"{"op":"ping","x":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8), .badRequest),
        Case("UTF-16 surrogate in UTF-8", bytes: Array(#"{"op":"ping","x":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8), .badRequest),
        Case("raw NUL byte", bytes: Array(#"{"op":"ping","x":"a"#.utf8) + [0x00] + Array(#""}"#.utf8), .badRequest),
        Case("escaped NUL in a subject", #"{"op":"issue","sub":"a\u0000b"}"#, .badRequest),
        Case("lone surrogate escape", #"{"op":"issue","sub":"\ud800"}"#, .badRequest),
        Case("duplicate op", #"{"op":"ping","op":"issue","sub":"a"}"#, .badRequest),
        Case("1,000 roles", #"{"op":"issue","sub":"a","roles":["# + Array(repeating: #""r""#, count: 1000).joined(separator: ",") + "]}", .badRequest),
        Case("a 2,000-byte subject", #"{"op":"issue","sub":""# + String(repeating: "s", count: 2000) + #""}"#, .badRequest),
        Case("custom claims too big for a token", #"{"op":"issue","sub":"a","claims":{"blob":""# + String(repeating: "b", count: 9000) + #""}}"#, .badRequest),
        Case("reserved custom claim", #"{"op":"issue","sub":"a","claims":{"exp":1}}"#, .badRequest),
        Case("password over 4 KiB", #"{"op":"login","username":"a","password":""# + String(repeating: "p", count: 5000) + #""}"#, .badRequest),
        Case("username with a newline", #"{"op":"login","username":"a\nb","password":"x"}"#, .badRequest),
        Case("roles_any empty", #"{"op":"verify","token":"a.b.c","roles_any":[]}"#, .badRequest),
        Case("verify without token", #"{"op":"verify"}"#, .badRequest),
        Case("token a number", #"{"op":"verify","token":12}"#, .badRequest),
        Case("truncated JSON", #"{"op":"ping""#, .badRequest),
        Case("JSON array", #"["ping"]"#, .badRequest),
        Case("bare string", #""ping""#, .badRequest),
        Case("empty line", "", .badRequest),
        Case("trailing garbage", #"{"op":"ping"} x"#, .badRequest),
    ]

    @Test("hostile request lines, each answered with its code while the daemon carries on")
    func hostileRequests() async throws {
        let daemon = try await InProcessDaemon()
        for hostile in Self.requests {
            try await Self.check(daemon, hostile.line, expect: hostile.code, name: hostile.name)
        }
        #expect(await daemon.stop() == 0)
    }

    /// RFC 8725 §2 attack classes, as tokens given to `verify`.
    @Test("RFC 8725 §2 attacks on verify")
    func tokenAttacks() async throws {
        let daemon = try await InProcessDaemon()
        let good = try await daemon.client().issue(subject: "alice", roles: ["user"]).accessToken
        let parts = good.split(separator: ".").map(String.init)
        let header = String(decoding: Base64Decode.decode(parts[0]), as: UTF8.self)
        let payload = String(decoding: Base64Decode.decode(parts[1]), as: UTF8.self)
        let kid = header.components(separatedBy: #""kid":""#)[1].components(separatedBy: "\"")[0]
        let attacks: [(String, String)] = [
            ("alg none, no signature", Self.b64(#"{"alg":"none","typ":"at+jwt","kid":"\#(kid)"}"#) + "." + parts[1] + "."),
            ("alg none, original signature", Self.b64(#"{"alg":"none","typ":"at+jwt","kid":"\#(kid)"}"#) + "." + parts[1] + "." + parts[2]),
            ("alg HS256 with the public key id", Self.b64(#"{"alg":"HS256","typ":"at+jwt","kid":"\#(kid)"}"#) + "." + parts[1] + "." + parts[2]),
            ("kid path traversal", Self.b64(#"{"alg":"EdDSA","typ":"at+jwt","kid":"../../etc/passwd"}"#) + "." + parts[1] + "." + parts[2]),
            ("kid SQL", Self.b64(#"{"alg":"EdDSA","typ":"at+jwt","kid":"' OR 1=1 --"}"#) + "." + parts[1] + "." + parts[2]),
            ("embedded jwk", Self.b64(#"{"alg":"EdDSA","typ":"at+jwt","kid":"\#(kid)","jwk":{"kty":"OKP"}}"#) + "." + parts[1] + "." + parts[2]),
            ("jku", Self.b64(#"{"alg":"EdDSA","typ":"at+jwt","kid":"\#(kid)","jku":"http://evil"}"#) + "." + parts[1] + "." + parts[2]),
            ("crit", Self.b64(#"{"alg":"EdDSA","typ":"at+jwt","kid":"\#(kid)","crit":["exp"]}"#) + "." + parts[1] + "." + parts[2]),
            ("typ JWT (cross-JWT confusion)", Self.b64(#"{"alg":"EdDSA","typ":"JWT","kid":"\#(kid)"}"#) + "." + parts[1] + "." + parts[2]),
            ("payload swapped (elevated roles)", parts[0] + "." + Self.b64(payload.replacingOccurrences(of: #""roles":["user"]"#, with: #""roles":["admin"]"#)) + "." + parts[2]),
            ("exp far future, re-encoded", parts[0] + "." + Self.b64(payload.replacingOccurrences(of: #""exp":"#, with: #""exp":9"#)) + "." + parts[2]),
            ("signature stripped", parts[0] + "." + parts[1] + "."),
            ("padding added", good + "=="),
            ("JWE-shaped (five parts)", good + ".a.b"),
            ("two parts", parts[0] + "." + parts[1]),
            ("base64 standard alphabet", good.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + (good.contains("-") || good.contains("_") ? "" : "+")),
            ("a 9 KB token", good + String(repeating: "A", count: 9000)),
        ]
        for (name, token) in attacks {
            let line = #"{"op":"verify","token":"\#(token.replacingOccurrences(of: "\"", with: "\\\""))","roles_any":["admin","user"]}"#
            try await Self.check(daemon, Array(line.utf8), expect: .invalidToken, name: name)
        }
        #expect(await daemon.stop() == 0)
    }

    /// Tokens with a genuine HS256 signature (the test knows the secret) and hostile claims: the
    /// signature passes, so every claim rule is reached through the real daemon.
    @Test("signed tokens with hostile time claims and types")
    func signedHostileClaims() async throws {
        let directory = TemporaryDirectory()
        let secret = "hostile-claims-secret-0123456789abcdef"
        let secretPath = directory.path + "/hmac.key"
        try secret.write(toFile: secretPath, atomically: true, encoding: .utf8)
        chmod(secretPath, 0o600)
        let daemon = try await InProcessDaemon(
            config: "[tokens]\nalgorithm = \"HS256\"\nhmac_secret_file = \"\(secretPath)\"\nleeway = 0\n", directory: directory)
        let genuine = try await daemon.client().issue(subject: "alice").accessToken
        let header = String(decoding: Base64Decode.decode(String(genuine.split(separator: ".")[0])), as: UTF8.self)
        let kid = header.components(separatedBy: #""kid":""#)[1].components(separatedBy: "\"")[0]
        let now = Int(Date().timeIntervalSince1970)
        let base = #""iss":"authd","sub":"alice","aud":"local","jti":"j1","roles":["user"]"#
        let cases: [(String, String, AuthdError.Code?)] = [
            ("well-formed control", #"{\#(base),"iat":\#(now),"exp":\#(now + 600)}"#, nil),
            ("exp 1e20", #"{\#(base),"iat":\#(now),"exp":1e20}"#, .invalidToken),
            ("exp 1e400", #"{\#(base),"iat":\#(now),"exp":1e400}"#, .invalidToken),
            ("exp -1", #"{\#(base),"iat":\#(now),"exp":-1}"#, .invalidToken),
            ("exp Int64.max", #"{\#(base),"iat":\#(now),"exp":9223372036854775807}"#, .invalidToken),
            ("exp a string", #"{\#(base),"iat":\#(now),"exp":"\#(now + 600)"}"#, .invalidToken),
            ("exp null", #"{\#(base),"iat":\#(now),"exp":null}"#, .invalidToken),
            ("exp missing", #"{\#(base),"iat":\#(now)}"#, .invalidToken),
            ("exp an array", #"{\#(base),"iat":\#(now),"exp":[1]}"#, .invalidToken),
            ("exp in the past", #"{\#(base),"iat":\#(now - 100),"exp":\#(now - 10)}"#, .tokenExpired),
            ("iat in the future", #"{\#(base),"iat":\#(now + 3600),"exp":\#(now + 7200)}"#, .tokenNotYetValid),
            ("nbf in the future", #"{\#(base),"iat":\#(now),"nbf":\#(now + 3600),"exp":\#(now + 7200)}"#, .tokenNotYetValid),
            ("nbf -1e300", #"{\#(base),"iat":\#(now),"nbf":-1e300,"exp":\#(now + 600)}"#, .invalidToken),
            ("duplicate exp", #"{\#(base),"iat":\#(now),"exp":\#(now + 600),"exp":1}"#, .invalidToken),
            ("wrong issuer", #"{"iss":"evil","sub":"alice","aud":"local","jti":"j","iat":\#(now),"exp":\#(now + 600)}"#, .invalidToken),
            ("sub empty", #"{"iss":"authd","sub":"","aud":"local","jti":"j","iat":\#(now),"exp":\#(now + 600)}"#, .invalidToken),
            ("roles a string", #"{"iss":"authd","sub":"a","aud":"local","jti":"j","roles":"admin","iat":\#(now),"exp":\#(now + 600)}"#, .invalidToken),
            ("aud a number", #"{"iss":"authd","sub":"a","aud":7,"jti":"j","iat":\#(now),"exp":\#(now + 600)}"#, .invalidToken),
            ("payload an array", "[1,2,3]", .invalidToken),
            ("payload 40 deep", String(repeating: #"{"a":"#, count: 40) + "1" + String(repeating: "}", count: 40), .invalidToken),
            ("payload with a NUL", #"{\#(base),"iat":\#(now),"exp":\#(now + 600),"x":"a\#u{0}b"}"#, .invalidToken),
        ]
        let signed = try await runCommand(
            "/usr/bin/python3", [LimitsIntegrationTests.clientsScript, "sign", secret, kid],
            input: cases.map(\.1).joined(separator: "\n") + "\n")
        let tokens = signed.stdout.split(separator: "\n").map(String.init)
        #expect(tokens.count == cases.count, "\(signed.stderr)")
        for ((name, _, code), token) in zip(cases, tokens) {
            let line = #"{"op":"verify","token":"\#(token)"}"#
            if let code {
                try await Self.check(daemon, Array(line.utf8), expect: code, name: name)
            } else {
                let reply = try await RawConnection(path: daemon.socketPath).request(line)
                #expect(reply.errorCode == nil, "the control token was refused: \(reply)")
            }
        }
        #expect(await daemon.stop() == 0)
    }

    static func check(_ daemon: any TestDaemon, _ line: [UInt8], expect code: AuthdError.Code, name: String) async throws {
        let connection = try RawConnection(path: daemon.socketPath)
        try await connection.send(line + [0x0A])
        let reply = try #require(try await connection.readLine(), "no reply to \(name)")
        let envelope = try ReplyEnvelope.parse(Array(reply.utf8))
        #expect(envelope.errorCode == code, "\(name) answered \(reply.prefix(200))")
        // The daemon is still there, on this connection and on a new one.
        #expect(try await connection.request(#"{"op":"ping"}"#).errorCode == nil, "after \(name)")
        #expect(try await RawConnection(path: daemon.socketPath).request(#"{"op":"ping"}"#).errorCode == nil, "after \(name)")
    }
}

/// Lenient base64url decoding for taking apart a token in a test.
enum Base64Decode {
    static func decode(_ text: String) -> [UInt8] {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Array(Data(base64Encoded: standard) ?? Data())
    }
}
