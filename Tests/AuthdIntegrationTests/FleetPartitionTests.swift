import AuthdClient
import AuthdCore
import AuthdProtocol
import Foundation
import Testing

extension FleetTests {
    /// Node C runs as a process in a network namespace of its own and reaches PostgreSQL over a
    /// veth link; nodes A and B run in this process on loopback. Cutting the link partitions C
    /// from the database (and so from the fleet) without resetting its connections.
    @Test(
        "a node cut off by a partition keeps verifying, keeps its revocations for later, refuses what needs the database, and converges when the link returns",
        .enabled(if: NetworkNamespace.isAvailable, "needs ip netns and veth (root with CAP_NET_ADMIN)"))
    func partition() async throws {
        let namespace = try await NetworkNamespace()
        let postgres = try await PostgresServer(extraAddresses: [namespace.hostAddress], extraNetworks: [namespace.subnet])
        let fleet = try await TestFleet(postgres: postgres, names: ["node-a", "node-b"])
        let directory = TemporaryDirectory()
        // Not loopback, so TLS would be required by default; the test server speaks none.
        let config = try fleet.config("node-c", directory: directory, host: namespace.hostAddress, fleetKeys: #"tls = "disable""#)
        let nodeC = try await DaemonProcess(config: config, directory: directory, launcher: namespace.launcher)
        let (a, c) = (fleet[0].client(), nodeC.client())
        #expect(await eventually { (try? await c.status().fleet?.connected) == true }, "\(nodeC.log.suffix(2000))")

        _ = try await fleet[0].client().addUser("ivan", password: "correct horse")
        let fromA = try await a.issue(subject: "judy").accessToken
        let doomedFromA = try await a.issue(subject: "mallory").accessToken
        let fromC = try await c.issue(subject: "ken").accessToken
        // Each side knows the other's keys before the link goes.
        #expect(await eventually { (try? await c.verify(token: fromA)) != nil })
        #expect(await eventually { (try? await a.verify(token: fromC)) != nil })

        try await namespace.cut()
        let cut = ContinuousClock.now
        #expect(try await a.revoke(.token(doomedFromA)).propagated == true)
        // C keeps answering verify for valid tokens (its own and A's), and cannot have heard of
        // A's revocation.
        for _ in 0..<20 {
            #expect(try await c.verify(token: fromA).subject == "judy")
            #expect(try await c.verify(token: fromC).subject == "ken")
        }
        #expect(try await c.verify(token: doomedFromA).subject == "mallory")
        // A revoke on C is enforced on C at once and kept for later; ops that need the database
        // say so instead of hanging.
        let kept = try await c.revoke(.token(fromC))
        #expect(kept.revoked == 1 && kept.propagated == false)
        #expect(await Self.isRevoked(fromC, on: nodeC))
        #expect(await Self.code { () async throws(AuthdError) in try await c.login(username: "ivan", password: "correct horse") } == .fleetUnavailable)
        #expect(await eventually { (try? await c.status().fleet?.connected) == false })
        let noticed = ContinuousClock.now - cut
        #expect(try await c.verify(token: fromA).subject == "judy")

        try await namespace.heal()
        let healed = ContinuousClock.now
        // Converged: C enforces what A revoked meanwhile, A enforces what C revoked meanwhile.
        #expect(await eventually(timeout: .seconds(90)) { await Self.isRevoked(doomedFromA, on: nodeC) }, "\(nodeC.log.suffix(3000))")
        #expect(await eventually(timeout: .seconds(90)) { await Self.isRevoked(fromC, on: fleet[0]) }, "\(nodeC.log.suffix(3000))")
        #expect(await eventually { (try? await c.status().fleet?.connected) == true })
        print("partition: node-c saw the database unreachable \(noticed) after the cut; converged \(ContinuousClock.now - healed) after the link returned")
        _ = try await c.login(username: "ivan", password: "correct horse")
        #expect(await nodeC.stop() == 0)
        await fleet.stop()
    }
}
