import AuthdClient
import AuthdCore
import AuthdProtocol
import Foundation
import Synchronization
import Testing

/// The fleet against a real PostgreSQL 15 started by the tests: three authd nodes in this process.
@Suite("A fleet of nodes on one PostgreSQL", .serialized)
struct FleetTests {
    /// The code `body` threw, or nil if it succeeded.
    static func code(_ body: () async throws(AuthdError) -> some Any) async -> AuthdError.Code? { await errorCode(body) }

    /// A node's log lines about its feed and the fleet, for a failure message.
    static func feedLog(_ node: InProcessDaemon) -> String {
        node.log.split(separator: "\n").filter { $0.contains("feed") || $0.contains("fleet") }.suffix(40).joined(separator: "\n")
    }

    static func isRevoked(_ token: String, on node: some TestDaemon) async -> Bool {
        await code { () async throws(AuthdError) in try await node.client().verify(token: token) } == .tokenRevoked
    }

    @Test("a token issued on one node verifies on every node; a revoke on B is enforced on A and C")
    func revocationReachesEveryNode() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(postgres: postgres)
        let token = try await fleet[0].client().issue(subject: "alice").accessToken
        for node in fleet.nodes { #expect(try await node.client().verify(token: token).subject == "alice") }

        // Every node serves every node's keys.
        // (Nodes announce their keys: the first node learns those of the nodes started after it.)
        var kids: [String] = []
        for node in fleet.nodes { kids.append(try await node.client().status().activeKid) }
        #expect(
            await eventually {
                let published = Set(((try? await fleet[0].client().jwks().keys) ?? []).compactMap { $0["kid"]?.stringValue })
                return kids.allSatisfy(published.contains)
            })

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
        // A feed event is enforced first and recorded after (its local write, then the position),
        // so the position may trail the enforcement by that write.
        #expect(
            await eventually {
                guard let fleet = try? await fleet[0].client().status().fleet else { return false }
                return fleet.connected && fleet.appliedSeq >= 2
            })
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

        // Failed logins count across the fleet: spread over the three nodes, the fifth locks the
        // name out everywhere (the default is 5 failures).
        for attempt in 0..<5 {
            let code = await Self.code { () async throws(AuthdError) in
                try await fleet[attempt % 3].client().login(username: "carol", password: "wrong \(attempt)")
            }
            #expect(code == .invalidCredentials)
        }
        for node in fleet.nodes {
            let code = await Self.code { () async throws(AuthdError) in try await node.client().login(username: "carol", password: "correct horse") }
            #expect(code == .tooManyAttempts)
        }

        // A password change on B revokes carol's sessions on every node.
        _ = try await fleet[1].client().setPassword(of: "carol", to: "battery staple")
        for node in fleet.nodes { #expect(await eventually { await Self.isRevoked(login.accessToken, on: node) }) }
        await fleet.stop()
    }

    @Test("the feed's connections killed with pg_terminate_backend: no revocation is lost (HS256: one secret on every node)")
    func listenerKilled() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(postgres: postgres, hs256: true)
        var tokens: [String] = []
        for round in 0..<5 {
            _ = try await postgres.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'authd % feed'")
            let token = try await fleet[round % 3].client().issue(subject: "user\(round)").accessToken
            _ = try await fleet[(round + 1) % 3].client().revoke(.token(token))
            tokens.append(token)
        }
        for (index, node) in fleet.nodes.enumerated() {
            var all = true
            for token in tokens where !(await eventually { await Self.isRevoked(token, on: node) }) { all = false }
            #expect(all, "node \(index) misses revocations; its feed:\n\(Self.feedLog(node))")
        }
        await fleet.stop()
    }

    @Test("PostgreSQL stopped for 20 s: verify goes on without an error, revokes are kept and reach every node when it returns; login answers fleet_unavailable")
    func outage() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(postgres: postgres)
        _ = try await fleet[0].client().addUser("erin", password: "correct horse")
        let live = try await fleet[0].client().issue(subject: "frank").accessToken
        let doomed = try await fleet[1].client().issue(subject: "grace").accessToken
        // Verify load on every node for the whole outage: not one error is allowed.
        let errors = Locked<[String]>([])
        let verified = Locked(0)
        let running = Locked(true)
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for node in fleet.nodes {
                    group.addTask {
                        let client = node.client()
                        while running.withLock({ $0 }) {
                            do {
                                _ = try await client.verify(token: live)
                                verified.withLock { $0 += 1 }
                            } catch {
                                errors.withLock { $0.append("\(error)") }
                            }
                            // A steady trickle, not a flood: the rest of the suite shares the cores.
                            try? await Task.sleep(for: .milliseconds(5))
                        }
                    }
                }
            }
        }
        try await postgres.stop()
        let outageStarted = ContinuousClock.now
        #expect(await eventually { (try? await fleet[2].client().status().fleet?.connected) == false })

        let revoke = try await fleet[2].client().revoke(.token(doomed))
        #expect(revoke.propagated == false)
        #expect(await Self.isRevoked(doomed, on: fleet[2]))
        #expect(await Self.code { () async throws(AuthdError) in try await fleet[0].client().login(username: "erin", password: "correct horse") } == .fleetUnavailable)
        #expect(try await fleet[1].client().issue(subject: "henry").accessToken.isEmpty == false)
        // The outage lasts 20 s, as the issue asks; the load runs throughout.
        try await Task.sleep(until: outageStarted + .seconds(20))
        try await postgres.start()
        running.withLock { $0 = false }
        await load.value
        #expect(errors.withLock { $0 }.isEmpty, "\(errors.withLock { $0.prefix(3) })")
        #expect(verified.withLock { $0 } > 100)
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

    @Test("key rotation on one node under verify load on the others: zero failures")
    func rotationUnderLoad() async throws {
        let postgres = try await PostgresServer()
        // One clock for the fleet, moved past the rotation interval by hand.
        let clock = ManualUnixClock(Int64(Date().timeIntervalSince1970))
        let fleet = try await TestFleet(postgres: postgres, tokensConfig: "key_rotation_interval = 60\n", clock: clock)
        let oldKid = try await fleet[0].client().status().activeKid
        let tokens = Locked([try await fleet[0].client().issue(subject: "kate").accessToken])
        let failures = Locked<[String]>([])
        let verified = Locked([0, 0, 0])
        let running = Locked(true)
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for index in [1, 2] {
                    group.addTask {
                        let client = fleet[index].client()
                        while running.withLock({ $0 }) {
                            let token = tokens.withLock { $0.last! }
                            do {
                                _ = try await client.verify(token: token)
                                verified.withLock { $0[index] += 1 }
                            } catch {
                                failures.withLock { $0.append("node \(index): \(error)") }
                            }
                        }
                    }
                }
            }
        }
        clock.advance(by: 60)
        #expect(await eventually { (try? await fleet[0].client().status().activeKid).map { $0 != oldKid } ?? false })
        let fresh = try await fleet[0].client().issue(subject: "kate").accessToken
        tokens.withLock { $0.append(fresh) }
        let before = verified.withLock { $0 }
        #expect(await eventually { verified.withLock { $0[1] > before[1] + 50 && $0[2] > before[2] + 50 } })
        running.withLock { $0 = false }
        await load.value
        let failed = failures.withLock { $0 }
        #expect(failed.isEmpty, "\(failed.count) failures: \(failed.prefix(3))")
        // The retired key still verifies its tokens everywhere.
        for node in fleet.nodes { #expect(try await node.client().verify(token: tokens.withLock { $0[0] }).subject == "kate") }
        await fleet.stop()
    }

    @Test("on_stale = refuse: a stale node refuses other nodes' tokens (fleet_unavailable; HTTP 503, /healthz 503) and still verifies its own")
    func staleRefuses() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(
            postgres: postgres, names: ["node-a", "node-b"], extraConfig: "max_staleness = 3\non_stale = \"refuse\"")
        let foreign = try await fleet[0].client().issue(subject: "lena").accessToken
        let own = try await fleet[1].client().issue(subject: "mona").accessToken
        #expect(try await fleet[1].client().verify(token: foreign).subject == "lena")
        try await postgres.stop()
        #expect(
            await eventually {
                await Self.code { () async throws(AuthdError) in try await fleet[1].client().verify(token: foreign) } == .fleetUnavailable
            })
        #expect(try await fleet[1].client().verify(token: own).subject == "mona")
        #expect(try await fleet[1].client().status().fleet?.stale == true)
        // The HTTP face agrees: /healthz says 503, /auth answers 503 for the other node's token
        // (a proxy then fails closed) and 200 for its own; the metrics show the node disconnected.
        let http = HTTPTestClient(connection: try await RawConnection.whenListening(path: fleet[1].directory.path + "/http.sock"))
        #expect(try await http.request("GET", "/healthz").status == 503)
        #expect(try await http.request("GET", "/auth", headers: [("Authorization", "Bearer \(foreign)")]).status == 503)
        #expect(try await http.request("GET", "/auth", headers: [("Authorization", "Bearer \(own)")]).status == 200)
        let metrics = try await http.request("GET", "/metrics").text
        // The gauges are there; how soon `connected` drops is the outage test's business. (It was
        // once seen still 1 here 30 s after PostgreSQL stopped, in CI, and not reproduced since;
        // the feed's backstop poll now marks the node disconnected when it cannot reach the
        // database, whatever the listening connection is doing.)
        #expect(HTTPFaceTests.sample(metrics, "authd_fleet_staleness_seconds").map { $0 >= 3 } == true, "\(metrics)")
        #expect(HTTPFaceTests.sample(metrics, "authd_fleet_connected") != nil)
        try await postgres.start()
        #expect(await eventually { (try? await fleet[1].client().verify(token: foreign).subject) == "lena" })
        #expect(try await http.request("GET", "/healthz").status == 200)
        await fleet.stop()
    }

    @Test("refusals at start (exit 78): a wrong password, a group-readable password file; the password is never printed")
    func refusalsAtStart() async throws {
        let postgres = try await PostgresServer()
        let directory = TemporaryDirectory()
        let passwordPath = directory.path + "/db-password"
        func start() async throws -> CommandResult {
            try """
                [fleet]
                database = "\(postgres.url)"
                password_file = "\(passwordPath)"
                """.write(toFile: directory.path + "/authd.toml", atomically: true, encoding: .utf8)
            return try await runCommand(
                Binaries.authd,
                ["--socket", directory.path + "/authd.sock", "--state-dir", directory.path + "/state", "--config", directory.path + "/authd.toml"],
                timeout: .seconds(60))
        }
        let wrong = "not-the-password-\(UUID().uuidString)"
        try (wrong + "\n").write(toFile: passwordPath, atomically: true, encoding: .utf8)
        chmod(passwordPath, 0o600)
        let refused = try await start()
        #expect(refused.status == 78, "\(refused.stderr)")
        #expect(refused.stderr.contains("password authentication failed"), "\(refused.stderr)")
        #expect(!refused.stderr.contains(wrong) && !refused.stdout.contains(wrong))

        try postgres.writePasswordFile(passwordPath)
        chmod(passwordPath, 0o640)
        let unsafe = try await start()
        #expect(unsafe.status == 78)
        #expect(unsafe.stderr.contains(passwordPath) && unsafe.stderr.contains("0640"), "\(unsafe.stderr)")
        #expect(!unsafe.stderr.contains(postgres.password))
    }
}


/// A value behind a mutex that tasks can share.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}
