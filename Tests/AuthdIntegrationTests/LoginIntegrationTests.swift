import AuthdClient
import AuthdProtocol
import Foundation
import Testing

@Suite("Password login against the real daemon: the seed's story, timing parity, bounded hashing", .serialized)
struct LoginIntegrationTests {
    /// The code a failed call threw, or nil if it succeeded.
    static func code(_ body: () async throws(AuthdError) -> some Any) async -> AuthdError.Code? { await errorCode(body) }

    static func code(of authorization: Authorization) -> AuthdError.Code? { authorization.error?.code }

    @Test("the seed's scenario: login, /protected (401), /admin (403), wrong password, revoked, expired")
    func seedScenario() async throws {
        let daemon = try await InProcessDaemon(config: "[tokens]\nleeway = 0\n")
        let authd = daemon.client()
        _ = try await authd.addUser("alice", password: "wonderland", roles: ["user"])
        _ = try await authd.addUser("admin", password: "correct horse battery", roles: ["admin"])

        let alice = try await authd.login(username: "alice", password: "wonderland").accessToken
        let protected = await authd.authorize(bearer: "Bearer \(alice)")
        #expect(protected.httpStatus == 200)
        #expect(protected.claims?.subject == "alice")
        #expect(protected.claims?.roles == ["user"])
        let adminOnly = await authd.authorize(bearer: "Bearer \(alice)", requireAnyRole: ["admin"])
        #expect(adminOnly.httpStatus == 403)
        #expect(Self.code(of: adminOnly) == .insufficientRole)

        let admin = try await authd.login(username: "admin", password: "correct horse battery").accessToken
        #expect(await authd.authorize(bearer: "Bearer \(admin)").httpStatus == 200)
        #expect(await authd.authorize(bearer: "Bearer \(admin)", requireAnyRole: ["admin"]).httpStatus == 200)

        #expect(await Self.code { () async throws(AuthdError) in try await authd.login(username: "alice", password: "Wonderland") } == .invalidCredentials)
        #expect(await authd.authorize(bearer: nil).httpStatus == 401)

        _ = try await authd.revoke(.token(alice))
        let revoked = await authd.authorize(bearer: "Bearer \(alice)")
        #expect(revoked.httpStatus == 401)
        #expect(Self.code(of: revoked) == .tokenRevoked)

        let short = try await authd.issue(subject: "alice", roles: ["user"], ttl: 1).accessToken
        try await Task.sleep(for: .seconds(2.1))
        let expired = await authd.authorize(bearer: "Bearer \(short)")
        #expect(expired.httpStatus == 401)
        #expect(Self.code(of: expired) == .tokenExpired)

        let log = daemon.log
        #expect(log.contains("login succeeded") && log.contains("login failed"))
        #expect(!log.contains("wonderland") && !log.contains("correct horse"), "a password reached the log")
        #expect(!log.contains(alice), "a token reached the log")
        await authd.close()
        #expect(await daemon.stop() == 0)
    }

    @Test("make demo tells the story: Examples/demo.sh, with authctl and over HTTP, exits 0")
    func demo() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var environment = ProcessInfo.processInfo.environment
        environment["AUTHD_BIN_DIR"] = Binaries.directory
        environment["AUTHD_SOCKET"] = nil
        let result = try await runCommand("/bin/bash", [root.appendingPathComponent("Examples/demo.sh").path], environment: environment)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("steps behaved as the story says"))
        #expect(result.stdout.contains("GET /admin with alice's token") && result.stdout.contains("-> 403"))
    }

    @Test("a wrong password, an unknown user and a disabled user take the same time to refuse")
    func timingParity() async throws {
        let daemon = try await InProcessDaemon(config: "[users]\nmax_failures = 0\n")
        let authd = daemon.client()
        _ = try await authd.addUser("alice", password: "wonderland")
        _ = try await authd.addUser("bob", password: "builder-bob")
        _ = try await authd.disableUser("bob")
        func timed(_ username: String, _ password: String) async -> Double {
            let start = ContinuousClock.now
            let code = await Self.code { () async throws(AuthdError) in try await authd.login(username: username, password: password) }
            #expect(code == .invalidCredentials)
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        }
        for _ in 0..<3 { _ = await timed("alice", "warm-up"); _ = await timed("nobody", "warm-up") }
        var wrongPassword: [Double] = []
        var unknownUser: [Double] = []
        var disabledUser: [Double] = []
        for round in 0..<25 {
            // Interleaved, so that a slow moment of the machine hurts all three alike.
            wrongPassword.append(await timed("alice", "guess-\(round)"))
            unknownUser.append(await timed("user-\(round)", "guess-\(round)"))
            disabledUser.append(await timed("bob", "builder-bob"))
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let medians = [median(wrongPassword), median(unknownUser), median(disabledUser)]
        print("login refusal medians (ms): wrong password \(medians[0]), unknown user \(medians[1]), disabled \(medians[2])")
        // Every refusal computes a full argon2id hash (tens of ms); without the decoy an unknown
        // user would answer in well under a millisecond.
        #expect(medians.allSatisfy { $0 >= 5 }, "\(medians)")
        #expect(medians.max()! / medians.min()! < 1.5, "\(medians)")
        await authd.close()
        #expect(await daemon.stop() == 0)
    }

    @Test("200 parallel logins run at most max_concurrent_hashes hashes: bounded memory, all answered, verify stays fast")
    func concurrentHashBound() async throws {
        let daemon = try await DaemonProcess(config: "[users]\nmax_concurrent_hashes = 2\nmax_failures = 0\n")
        let admin = daemon.client()
        _ = try await admin.addUser("alice", password: "wonderland", roles: ["user"])
        let verifyToken = try await admin.issue(subject: "probe").accessToken
        let before = try Self.peakResidentKiB(daemon.process.processIdentifier)

        let clients = (0..<20).map { _ in daemon.client() }
        let storm = Task {
            await withTaskGroup(of: AuthdError.Code?.self) { group in
                for index in 0..<200 {
                    let client = clients[index % clients.count]
                    let password = index.isMultiple(of: 2) ? "wonderland" : "wrong-\(index)"
                    group.addTask {
                        await Self.code { () async throws(AuthdError) in try await client.login(username: "alice", password: password) }
                    }
                }
                return await group.reduce(into: [AuthdError.Code?]()) { $0.append($1) }
            }
        }
        // While the logins queue for the hasher, verify must not queue behind them.
        var slowestVerify = Duration.zero
        try await Task.sleep(for: .milliseconds(100))
        for _ in 0..<20 {
            let start = ContinuousClock.now
            _ = try await admin.verify(token: verifyToken)
            slowestVerify = max(slowestVerify, ContinuousClock.now - start)
            try await Task.sleep(for: .milliseconds(20))
        }
        let codes = await storm.value
        let after = try Self.peakResidentKiB(daemon.process.processIdentifier)
        print("200 parallel logins: peak RSS \(before) KiB -> \(after) KiB; slowest verify meanwhile \(slowestVerify)")
        #expect(codes.filter { $0 == nil }.count == 100)
        #expect(codes.filter { $0 == .invalidCredentials }.count == 100)
        // Two hashes of 19 MiB at a time. Unbounded, 200 logins would want up to 3.7 GiB.
        #expect(after - before < 120 * 1024, "peak RSS grew by \((after - before) / 1024) MiB")
        #expect(slowestVerify < .seconds(2))
        for client in clients { await client.close() }
        await admin.close()
        #expect(await daemon.stop() == 0)
    }

    @Test("with max_concurrent_hashes = 1, parallel logins hash one at a time: the peak memory does not grow")
    func singleHashAtATime() async throws {
        let daemon = try await DaemonProcess(config: "[users]\nmax_concurrent_hashes = 1\nmax_failures = 0\n")
        let admin = daemon.client()
        _ = try await admin.addUser("alice", password: "wonderland")
        // The daemon has already computed two hashes, one at a time (its decoy and alice's), so
        // its peak already includes one hash's memory.
        let before = try Self.peakResidentKiB(daemon.process.processIdentifier)
        let clients = (0..<16).map { _ in daemon.client() }
        let codes = await withTaskGroup(of: AuthdError.Code?.self) { group in
            for index in 0..<64 {
                let client = clients[index % clients.count]
                group.addTask {
                    await Self.code { () async throws(AuthdError) in try await client.login(username: "alice", password: "wrong-\(index)") }
                }
            }
            return await group.reduce(into: [AuthdError.Code?]()) { $0.append($1) }
        }
        let after = try Self.peakResidentKiB(daemon.process.processIdentifier)
        print("64 parallel logins, one hash at a time: peak RSS \(before) KiB -> \(after) KiB")
        #expect(codes.allSatisfy { $0 == .invalidCredentials })
        // A second concurrent hash would add its 19 MiB to the peak (with max_concurrent_hashes = 2
        // this grows by about 19.5 MiB on a 2-core machine).
        #expect(after - before < 8 * 1024, "peak RSS grew by \(after - before) KiB")
        for client in clients { await client.close() }
        await admin.close()
        #expect(await daemon.stop() == 0)
    }

    /// `VmHWM` of a process: the most resident memory it has ever had.
    static func peakResidentKiB(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }
}
