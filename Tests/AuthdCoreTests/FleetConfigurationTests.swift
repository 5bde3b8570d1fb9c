@testable import AuthdCore
import Testing

@Suite("The [fleet] table")
struct FleetConfigurationTests {
    static func fleet(_ body: String) throws -> FleetConfiguration? {
        try AuthdConfiguration(toml: "[fleet]\n" + body).fleet
    }

    /// Why a configuration whose `[table]` is `body` is refused, or "accepted".
    static func refusal(_ body: String, table: String = "fleet") -> String {
        do {
            _ = try AuthdConfiguration(toml: "[\(table)]\n" + body)
            return "accepted"
        } catch {
            return error.message
        }
    }

    @Test("no [fleet] table: single host")
    func absent() throws {
        #expect(try AuthdConfiguration(toml: "").fleet == nil)
    }

    @Test("a TCP URL with the defaults: TLS required off loopback, preferred on it")
    func tcp() throws {
        let remote = try #require(try Self.fleet(#"database = "postgresql://authd@db.example:6543/tokens"\#nnode = "web-1""#))
        #expect(remote.endpoint == .tcp(host: "db.example", port: 6543))
        #expect(remote.user == "authd" && remote.database == "tokens" && remote.node == "web-1")
        #expect(remote.tls == .require)
        #expect(remote.maximumStaleness == 60 && remote.onStale == .serve && remote.poolSize == 4)
        let local = try #require(try Self.fleet(#"database = "postgres://authd@127.0.0.1/authd""#))
        #expect(local.endpoint == .tcp(host: "127.0.0.1", port: 5432))
        #expect(local.tls == .prefer)
        let v6 = try #require(try Self.fleet(#"database = "postgresql://authd@[::1]:5433""#))
        #expect(v6.endpoint == .tcp(host: "::1", port: 5433))
        #expect(v6.database == "authd", "the database defaults to the user's name")
    }

    @Test("a Unix socket: ?host=, TLS off")
    func unixSocket() throws {
        let fleet = try #require(try Self.fleet(#"database = "postgresql://authd@/authd?host=/run/postgresql""#))
        #expect(fleet.endpoint.socketPath == "/run/postgresql/.s.PGSQL.5432")
        #expect(fleet.tls == .disable)
        #expect(Self.refusal(#"database = "postgresql://authd@/authd?host=/run/postgresql"\#ntls = "require""#).contains("fleet.tls"))
    }

    @Test("every key is read")
    func everyKey() throws {
        let fleet = try #require(
            try Self.fleet(
                """
                database = "postgresql://authd@db:5432/authd"
                password_file = "/etc/authd/db-password"
                node = "edge_2.example-3"
                tls = "require"
                tls_ca_file = "/etc/authd/ca.pem"
                max_staleness = "2m"
                on_stale = "refuse"
                pool_size = 8
                """))
        #expect(fleet.passwordFile == "/etc/authd/db-password")
        #expect(fleet.tlsCAFile == "/etc/authd/ca.pem")
        #expect(fleet.maximumStaleness == 120 && fleet.onStale == .refuse && fleet.poolSize == 8)
    }

    @Test("bad values are refused, naming the key; a password in the URL is refused and never echoed")
    func refusals() {
        let cases: [(String, String)] = [
            ("", "fleet.database: is required"),
            (#"database = "mysql://authd@db/authd""#, "fleet.database: must start with postgresql://"),
            (#"database = "postgresql://db/authd""#, "fleet.database: names no user"),
            (#"database = "postgresql://authd@db:99999/authd""#, "fleet.database: has a port"),
            (#"database = "postgresql://authd@db/authd?sslmode=require""#, "unknown parameter 'sslmode'"),
            (#"database = "postgresql://authd@db/authd"\#ntls = "maybe""#, "fleet.tls"),
            (#"database = "postgresql://authd@db/authd"\#non_stale = "panic""#, "fleet.on_stale"),
            (#"database = "postgresql://authd@db/authd"\#nnode = "web 1""#, "fleet.node"),
            (#"database = "postgresql://authd@db/authd"\#npool_size = 0"#, "fleet.pool_size"),
            (#"database = "postgresql://authd@db/authd"\#ncolour = "blue""#, "fleet.colour"),
        ]
        for (body, expected) in cases {
            let message = Self.refusal(body)
            #expect(message.contains(expected), "\(body) → \(message)")
        }
        let leaked = Self.refusal(#"database = "postgresql://authd:hunter2-secret@db/authd""#)
        #expect(leaked.contains("holds a password"))
        #expect(!leaked.contains("hunter2"))
    }
}
