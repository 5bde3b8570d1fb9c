import AuthdClient
import AuthdProtocol
import Foundation
import Testing

/// The fleet against a real PostgreSQL 15 started by the tests: three authd nodes in this process.
@Suite("A fleet of nodes on one PostgreSQL", .serialized, .enabled(if: PostgresServer.isInstalled, "needs Debian's postgresql-15"))
struct FleetTests {
    /// The code `body` threw, or nil if it succeeded.
    static func code(_ body: () async throws(AuthdError) -> some Any) async -> AuthdError.Code? {
        do {
            _ = try await body()
            return nil
        } catch {
            return error.code
        }
    }

    static func isRevoked(_ token: String, on node: InProcessDaemon) async -> Bool {
        await code { () async throws(AuthdError) in try await node.client().verify(token: token) } == .tokenRevoked
    }

    @Test("a token issued on one node verifies on every node; a revoke on B is enforced on A and C")
    func revocationReachesEveryNode() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(postgres: postgres)
        let token = try await fleet[0].client().issue(subject: "alice").accessToken
        for node in fleet.nodes { #expect(try await node.client().verify(token: token).subject == "alice") }

        let revoked = try await fleet[1].client().revoke(.token(token))
        #expect(revoked.revoked == 1 && revoked.propagated == true)
        #expect(await Self.isRevoked(token, on: fleet[1]))
        for index in [0, 2] { #expect(await eventually { await Self.isRevoked(token, on: fleet[index]) }) }

        // A subject revocation, from the third node.
        let other = try await fleet[1].client().issue(subject: "bob").accessToken
        #expect(try await fleet[2].client().revoke(.subject("bob")).propagated == true)
        for node in fleet.nodes { #expect(await eventually { await Self.isRevoked(other, on: node) }) }
        let status = try await fleet[0].client().status()
        #expect(status.fleet?.node == "node-a")
        #expect(status.fleet?.connected == true)
        #expect((status.fleet?.appliedSeq ?? 0) >= 2)
        await fleet.stop()
    }

    @Test("users and refresh tokens are shared: add on A, log in on C; refresh on B; one winner of a concurrent refresh")
    func usersAndRefreshAcrossNodes() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(postgres: postgres)
        _ = try await fleet[0].client().addUser("carol", password: "correct horse", roles: ["ops"])
        let login = try await fleet[2].client().login(username: "carol", password: "correct horse")
        #expect(try await fleet[1].client().verify(token: login.accessToken).roles == ["ops"])
        #expect(try await fleet[1].client().listUsers().map(\.username) == ["carol"])

        let issued = try await fleet[0].client().issue(subject: "dave", refresh: true)
        let refreshed = try await fleet[1].client().refresh(try #require(issued.refreshToken))
        #expect(try await fleet[2].client().verify(token: refreshed.accessToken).subject == "dave")

        // The same refresh token presented on A and on C at once: exactly one wins.
        let presented = try #require(refreshed.refreshToken)
        async let onA = Self.code { () async throws(AuthdError) in try await fleet[0].client().refresh(presented) }
        async let onC = Self.code { () async throws(AuthdError) in try await fleet[2].client().refresh(presented) }
        let outcomes = await [onA, onC]
        #expect(outcomes.filter { $0 == nil }.count == 1, "outcomes: \(outcomes)")
        #expect(outcomes.contains(.refreshReused), "outcomes: \(outcomes)")
        // The loser's presentation revoked the family everywhere: the winner's token too.
        for node in fleet.nodes { #expect(await eventually { await Self.isRevoked(refreshed.accessToken, on: node) }) }

        // A password change on B revokes carol's sessions on every node.
        _ = try await fleet[1].client().setPassword(of: "carol", to: "battery staple")
        for node in fleet.nodes { #expect(await eventually { await Self.isRevoked(login.accessToken, on: node) }) }
        await fleet.stop()
    }

    @Test("the feed's connections killed with pg_terminate_backend: no revocation is lost")
    func listenerKilled() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(postgres: postgres)
        var tokens: [String] = []
        for round in 0..<5 {
            _ = try await postgres.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'authd % feed'")
            let token = try await fleet[round % 3].client().issue(subject: "user\(round)").accessToken
            _ = try await fleet[(round + 1) % 3].client().revoke(.token(token))
            tokens.append(token)
        }
        for node in fleet.nodes {
            for token in tokens { #expect(await eventually { await Self.isRevoked(token, on: node) }) }
        }
        await fleet.stop()
    }

    @Test("PostgreSQL stopped: verify goes on, revokes are kept and reach every node when it returns; refresh and login answer fleet_unavailable")
    func outage() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(postgres: postgres)
        _ = try await fleet[0].client().addUser("erin", password: "correct horse")
        let live = try await fleet[0].client().issue(subject: "frank").accessToken
        let doomed = try await fleet[1].client().issue(subject: "grace").accessToken
        try await postgres.stop()
        #expect(await eventually { (try? await fleet[2].client().status().fleet?.connected) == false })

        for node in fleet.nodes { #expect(try await node.client().verify(token: live).subject == "frank") }
        let revoke = try await fleet[2].client().revoke(.token(doomed))
        #expect(revoke.propagated == false)
        #expect(await Self.isRevoked(doomed, on: fleet[2]))
        #expect(await Self.code { () async throws(AuthdError) in try await fleet[0].client().login(username: "erin", password: "correct horse") } == .fleetUnavailable)
        #expect(try await fleet[1].client().issue(subject: "henry").accessToken.isEmpty == false)

        try await postgres.start()
        for node in fleet.nodes { #expect(await eventually { await Self.isRevoked(doomed, on: node) }) }
        _ = try await fleet[0].client().login(username: "erin", password: "correct horse")
        await fleet.stop()
    }

    @Test("a node restarted while PostgreSQL is down still refuses what it had seen revoked")
    func restartDuringOutage() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(postgres: postgres)
        let token = try await fleet[0].client().issue(subject: "ivan").accessToken
        _ = try await fleet[1].client().revoke(.token(token))
        #expect(await eventually { await Self.isRevoked(token, on: fleet[2]) })
        try await postgres.stop()
        try await fleet.restart(2)
        #expect(await Self.isRevoked(token, on: fleet[2]))
        #expect(try await fleet[2].client().status().fleet?.connected == false)
        await fleet.stop()
    }
}
