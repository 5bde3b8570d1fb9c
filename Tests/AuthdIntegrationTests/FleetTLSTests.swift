import AuthdClient
import Foundation
import Testing

/// A fleet node and a PostgreSQL that offers TLS with a self-signed certificate, as Debian's
/// cluster does out of the box (found by the booted-container test: the loopback default refused it).
@Suite("The fleet database over TLS")
struct FleetTLSTests {
    /// Whether every connection the `authd` role holds is encrypted, and how many there are.
    func authdConnections(_ postgres: PostgresServer) async throws -> (count: Int, encrypted: Bool) {
        let row = try await postgres.psql(
            "SELECT count(*), coalesce(bool_and(ssl), false) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE usename = 'authd'")
        let fields = row.split(separator: "|")
        return (Int(fields.first ?? "") ?? 0, fields.last == "t")
    }

    @Test("loopback's default (prefer) encrypts with an unverifiable certificate; require verifies: refused without the CA, connected with it")
    func tlsModes() async throws {
        let postgres = try await PostgresServer(tls: true)
        let fleet = try await TestFleet(postgres: postgres, names: [])

        // The default on 127.0.0.1 is prefer: encrypted, the self-signed certificate not verified.
        let preferDirectory = TemporaryDirectory()
        let prefer = try await InProcessDaemon(config: try fleet.config("tls-prefer", directory: preferDirectory), directory: preferDirectory)
        #expect(await eventually { (try? await prefer.client().status().fleet?.connected) == true })
        // The feed's connection and the pool's are made as they are needed: wait until one is there.
        #expect(await eventually { ((try? await authdConnections(postgres))?.count ?? 0) > 0 })
        #expect(try await authdConnections(postgres).encrypted, "authd's connections are not all encrypted")
        await prefer.stop()

        // require verifies the certificate: not trusted by the system's CAs, so the node cannot
        // reach the database (it starts on its local cache, disconnected, and says why).
        let untrustedDirectory = TemporaryDirectory()
        let untrusted = try await InProcessDaemon(
            config: try fleet.config("tls-untrusted", directory: untrustedDirectory, host: "localhost", fleetKeys: #"tls = "require""#),
            directory: untrustedDirectory)
        #expect(try await untrusted.client().status().fleet?.connected == false)
        #expect(untrusted.log.contains("CERTIFICATE_VERIFY_FAILED"), "\(untrusted.log.suffix(3000))")
        #expect(untrusted.log.contains("name its CA with fleet.tls_ca_file"))
        await untrusted.stop()

        // With the server's certificate as the CA, require connects, verified.
        let trustedDirectory = TemporaryDirectory()
        let trusted = try await InProcessDaemon(
            config: try fleet.config(
                "tls-trusted", directory: trustedDirectory, host: "localhost",
                fleetKeys: "tls = \"require\"\ntls_ca_file = \"\(postgres.certificatePath)\""),
            directory: trustedDirectory)
        #expect(await eventually { (try? await trusted.client().status().fleet?.connected) == true })
        #expect(await eventually { ((try? await authdConnections(postgres))?.count ?? 0) > 0 })
        #expect(try await authdConnections(postgres).encrypted)
        await trusted.stop()
        try await postgres.stop()
    }
}
