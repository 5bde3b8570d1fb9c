@testable import AuthdCore
import AuthdProtocol
import Testing

@Suite("Configuration file")
struct ConfigurationTests {
    @Test("an empty file gives every default")
    func defaults() throws {
        let configuration = try AuthdConfiguration(toml: "# nothing\n")
        #expect(configuration == AuthdConfiguration())
        #expect(configuration.tokens.algorithm == .edDSA)
        #expect(configuration.tokens.ttl == 900)
        #expect(configuration.tokens.maximumTTL == 3600)
        #expect(configuration.tokens.leeway == 30)
        #expect(configuration.server.maximumLineLength == 65_536)
        #expect(configuration.server.socketPath == "/run/authd/authd.sock")
        #expect(configuration.stateDirectory == "/var/lib/authd")
    }

    @Test("every key is read, durations as seconds or strings")
    func everyKey() throws {
        let configuration = try AuthdConfiguration(
            toml: """
                [tokens]
                issuer = "https://auth.example"   # comment
                audience = 'api'
                algorithm = "ES256"
                ttl = "5m"
                max_ttl = 7200
                leeway = "10s"
                key_rotation_interval = "1d12h"

                [server]
                socket = "/tmp/a.sock"
                max_line_bytes = 1_048_576

                [state]
                directory = "/srv/authd"
                """)
        #expect(configuration.tokens.issuer == "https://auth.example")
        #expect(configuration.tokens.audience == "api")
        #expect(configuration.tokens.algorithm == .es256)
        #expect(configuration.tokens.ttl == 300)
        #expect(configuration.tokens.maximumTTL == 7200)
        #expect(configuration.tokens.leeway == 10)
        #expect(configuration.tokens.keyRotationInterval == 129_600)
        #expect(configuration.server.socketPath == "/tmp/a.sock")
        #expect(configuration.server.maximumLineLength == 1_048_576)
        #expect(configuration.stateDirectory == "/srv/authd")
    }

    @Test(
        "an invalid configuration is refused with a message naming the key",
        arguments: [
            ("[tokens]\nttl = 7200\nmax_ttl = 3600", "tokens.ttl"),
            ("[tokens]\nleeway = 61", "tokens.leeway"),
            ("[tokens]\nalgorithm = \"RS256\"", "tokens.algorithm"),
            ("[tokens]\nalgorithm = \"HS256\"", "tokens.hmac_secret_file"),
            ("[tokens]\nttl = \"fortnight\"", "tokens.ttl"),
            ("[tokens]\nttl = true", "tokens.ttl"),
            ("[tokens]\nissuer = \"\"", "tokens.issuer"),
            ("[tokens]\ntll = 5", "tokens.tll"),
            ("[tokenz]\nttl = 5", "tokenz"),
            ("[server]\nmax_line_bytes = 10", "server.max_line_bytes"),
            ("[tokens]\nkey_rotation_interval = 1", "tokens.key_rotation_interval"),
            ("tokens = 5", "tokens"),
        ])
    func invalid(text: String, key: String) {
        let error = #expect(throws: StartupError.self) { try AuthdConfiguration(toml: text) }
        #expect(error?.message.contains(key) == true, "\(error?.message ?? "")")
    }

    @Test(
        "TOML syntax errors are refused with a line number",
        arguments: [
            "[tokens\nttl = 5", "[tokens]\nttl = ", "[tokens]\nttl = 5 6", "[tokens]\nissuer = \"open",
            "[tokens]\n[tokens]", "[tokens]\nttl = 5\nttl = 6", "[tokens]\nissuer = \"\"\"x\"\"\"",
            "[tokens]\nttl = 1979-05-27", "[tokens]\nttl = 99999999999999999999", "= 5", "[tokens]\nissuer = bare",
        ])
    func syntax(text: String) {
        let error = #expect(throws: StartupError.self) { try AuthdConfiguration(toml: text) }
        #expect(error?.message.contains("line") == true, "\(error?.message ?? "")")
    }

    @Test("TOML reader: arrays, inline tables, arrays of tables, dotted and quoted keys, escapes")
    func tomlFeatures() throws {
        let table = try TOMLDocument.parse(
            """
            a = [1, 2,
                 3, ]  # trailing comma and newline
            b = { x = "y", z = -4 }
            c.d = 'lit\\eral'
            "quoted key" = "tab\\there \\u00e9"
            [[grant]]
            uid = 0
            [[grant]]
            group = "ops"
            """)
        #expect(table["a"] == .array([.integer(1), .integer(2), .integer(3)]))
        var inline = TOMLTable()
        inline["x"] = .string("y")
        inline["z"] = .integer(-4)
        #expect(table["b"] == .table(inline))
        guard case .table(let c)? = table["c"] else {
            Issue.record("c is not a table")
            return
        }
        #expect(c["d"] == .string("lit\\eral"))
        #expect(table["quoted key"] == .string("tab\there é"))
        guard case .array(let grants)? = table["grant"] else {
            Issue.record("grant is not an array")
            return
        }
        #expect(grants.count == 2)
    }

    @Test("durations")
    func durations() {
        #expect(DurationText.seconds("90s") == 90)
        #expect(DurationText.seconds("1h30m") == 5400)
        #expect(DurationText.seconds("7d") == 604_800)
        #expect(DurationText.seconds("") == nil)
        #expect(DurationText.seconds("5") == nil)
        #expect(DurationText.seconds("m") == nil)
        #expect(DurationText.seconds("99999999999999999999d") == nil)
        #expect(DurationText.seconds("-5s") == nil)
    }

    @Test("[limits]: defaults, each key read, ranges enforced, and the issuer and verifier obey them")
    func limits() throws {
        let defaults = try AuthdConfiguration(toml: "").tokens.limits
        #expect(defaults == RequestLimits())
        #expect(defaults.maximumRoles == 64 && defaults.maximumTokenBytes == 8192 && defaults.maximumClaimsBytes == 4096)
        let custom = try AuthdConfiguration(
            toml: "[limits]\nmax_roles = 2\nmax_audiences = 1\nmax_string_bytes = 20\nmax_claims_bytes = 30\nmax_token_bytes = 2048\n")
        #expect(custom.tokens.limits.maximumRoles == 2)
        #expect(custom.tokens.limits.maximumStringBytes == 20)
        for bad in ["[limits]\nmax_roles = 0", "[limits]\nmax_token_bytes = 100", "[limits]\nmax_string_bytes = 1", "[limits]\nbogus = 1"] {
            #expect(throws: StartupError.self, "\(bad)") { try AuthdConfiguration(toml: bad) }
        }

        let fixture = try TokenFixture { $0.limits = custom.tokens.limits }
        let issuer = fixture.service.issuer
        func code(_ request: IssueRequest) -> AuthdError.Code? {
            do {
                _ = try issuer.issue(request)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code(IssueRequest(subject: "alice", roles: ["a", "b"])) == nil)
        #expect(code(IssueRequest(subject: "alice", roles: ["a", "b", "c"])) == .badRequest)
        #expect(code(IssueRequest(subject: String(repeating: "s", count: 21))) == .badRequest)
        #expect(code(IssueRequest(subject: "alice", audience: ["x", "y"])) == .badRequest)
        #expect(code(IssueRequest(subject: "alice", claims: ["note": .string(String(repeating: "n", count: 40))])) == .badRequest)
        #expect(code(IssueRequest(subject: "alice", claims: ["n": 1])) == nil)
        // A token longer than max_token_bytes is refused by verify, before anything else.
        let long = try TokenFixture().issue(roles: (0..<60).map { "role-\($0)-" + String(repeating: "r", count: 20) })
        #expect(long.utf8.count > 2048)
        #expect(fixture.verifyCode(long) == .invalidToken)
    }

    @Test("arrays and inline tables nested deeper than 32 are an error, not a stack overflow (found by make fuzz)")
    func deepNesting() throws {
        for text in ["x = " + String(repeating: "[", count: 5000), "x = " + String(repeating: "{a = ", count: 5000)] {
            let error = #expect(throws: StartupError.self) { try AuthdConfiguration(toml: text) }
            #expect(error?.message.contains("nest deeper than 32") == true)
        }
        #expect(throws: Never.self) { try TOMLDocument.parse("x = " + String(repeating: "[", count: 32) + String(repeating: "]", count: 32)) }
    }

    @Test("[server] connection limits and timeouts: defaults, values, ranges")
    func serverLimits() throws {
        let defaults = try AuthdConfiguration(toml: "").server
        #expect(defaults.maximumConnections == 1024 && defaults.maximumConnectionsPerUID == 64)
        #expect(defaults.idleTimeout == 600 && defaults.lineTimeout == 10 && defaults.maximumPendingReplyBytes == 65_536)
        let custom = try AuthdConfiguration(
            toml: "[server]\nmax_connections = 5\nmax_connections_per_uid = 2\nidle_timeout = \"1m\"\nline_timeout = 0\nmax_pending_reply_bytes = 8192\n"
        ).server
        #expect(custom.maximumConnections == 5 && custom.maximumConnectionsPerUID == 2)
        #expect(custom.idleTimeout == 60 && custom.lineTimeout == 0 && custom.maximumPendingReplyBytes == 8192)
        for bad in ["[server]\nmax_connections = 0", "[server]\nline_timeout = 7200", "[server]\nmax_pending_reply_bytes = 100"] {
            #expect(throws: StartupError.self, "\(bad)") { try AuthdConfiguration(toml: bad) }
        }
    }
}
