@testable import AuthdCore
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
        #expect(ConfigTableReader.parseDuration("90s") == 90)
        #expect(ConfigTableReader.parseDuration("1h30m") == 5400)
        #expect(ConfigTableReader.parseDuration("7d") == 604_800)
        #expect(ConfigTableReader.parseDuration("") == nil)
        #expect(ConfigTableReader.parseDuration("5") == nil)
        #expect(ConfigTableReader.parseDuration("m") == nil)
        #expect(ConfigTableReader.parseDuration("99999999999999999999d") == nil)
        #expect(ConfigTableReader.parseDuration("-5s") == nil)
    }
}
