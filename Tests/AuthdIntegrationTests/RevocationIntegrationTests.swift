import AuthdClient
import AuthdCore
import AuthdProtocol
import Foundation
import Testing
import AuthdSQLiteStore

@Suite("Revocation through the real daemon", .serialized)
struct RevocationIntegrationTests {
    @Test("authctl revoke by token, jti and subject; enforced at once and after a restart")
    func revokeAndRestart() async throws {
        let directory = TemporaryDirectory()
        let daemon = try await InProcessDaemon(directory: directory)
        let socket = ["--socket", daemon.socketPath]
        let client = daemon.client()
        let first = try await client.issue(subject: "alice")
        let second = try await client.issue(subject: "bob")
        let third = try await client.issue(subject: "carol")
        let kept = try await client.issue(subject: "dave")

        let byToken = try await authctl(socket + ["revoke", "-"], input: first.accessToken + "\n")
        #expect(byToken.status == 0)
        #expect(byToken.stdout.contains("revoked: 1"))
        #expect(try await authctl(socket + ["verify", first.accessToken]).status == 14)
        #expect(try await authctl(socket + ["revoke", "--jti", second.jti]).status == 0)
        // base64url ids may begin with '-': authctl must take them as values, not options.
        #expect(try await authctl(socket + ["revoke", "--jti", "-starts-with-a-dash"]).status == 0)
        let bySubject = try await client.revoke(.subject("carol", before: nil))
        #expect(bySubject.revoked == 1)
        let refused = await #expect(throws: AuthdError.self) { try await client.verify(token: third.accessToken) }
        #expect(refused?.code == .tokenRevoked)
        #expect(try await authctl(socket + ["revoke", "--jti", "x", "--subject", "y"]).status == 64)
        #expect(try await authctl(socket + ["revoke", first.accessToken + "x"]).status == 10)
        await client.close()
        #expect(await daemon.stop() == 0)

        let restarted = try await InProcessDaemon(directory: directory)
        let again = restarted.client()
        for token in [first.accessToken, second.accessToken, third.accessToken] {
            let error = await #expect(throws: AuthdError.self) { try await again.verify(token: token) }
            #expect(error?.code == .tokenRevoked)
        }
        #expect(try await again.verify(token: kept.accessToken).subject == "dave")
        // A token carol gets after the revocation works.
        try await Task.sleep(for: .milliseconds(1100))
        let fresh = try await again.issue(subject: "carol")
        #expect(try await again.verify(token: fresh.accessToken).subject == "carol")
        await again.close()
        #expect(await restarted.stop() == 0)
    }

    @Test(
        "several clients revoke and refresh while the daemon is SIGKILLed 50 times: every acknowledged revocation holds, no refresh token is spent twice, integrity_check ok"
    )
    func crashSafety() async throws {
        let directory = TemporaryDirectory()
        var daemon = try await DaemonProcess(directory: directory)
        let acknowledged = Acknowledged()
        var spent: [String] = []
        var chains: [String] = []
        for index in 0..<2 {
            chains.append(try #require(try await daemon.client().issue(subject: "roamer\(index)", refresh: true).refreshToken))
        }
        var attempted = 0
        var rotations = 0
        var minimumAcknowledged = 0
        for cycle in 0..<50 {
            let pid = daemon.process.processIdentifier
            let revokingClient = daemon.client()
            var tokens: [String] = []
            for index in 0..<6 { tokens.append(try await revokingClient.issue(subject: "u\(cycle)-\(index)").accessToken) }
            attempted += tokens.count
            // One client revokes, one client per chain refreshes, all at once, and the daemon is
            // killed right after the killAfter-th acknowledgement, while the other writes are in
            // flight: a count, not a delay, so every cycle proves something however busy the
            // machine is (a delay once let a whole run acknowledge nothing).
            let refreshingClients = chains.map { _ in daemon.client() }
            let presented = chains
            let killAfter = Int.random(in: 1...5)
            minimumAcknowledged += killAfter
            let (acks, ackStream) = AsyncStream.makeStream(of: Void.self)
            let unfinished = Acknowledged.Countdown(tokens.count)
            let outcomes = await withTaskGroup(of: (Int, String?).self) { group in
                for token in tokens {
                    group.addTask {
                        if (try? await revokingClient.revoke(.token(token))) != nil {
                            acknowledged.add(token)
                            ackStream.yield()
                        }
                        if unfinished.countDown() { ackStream.finish() }
                        return (-1, nil)
                    }
                }
                for (index, client) in refreshingClients.enumerated() {
                    group.addTask { (index, try? await client.refresh(presented[index]).refreshToken) }
                }
                group.addTask {
                    var seen = 0
                    for await _ in acks {
                        seen += 1
                        if seen == killAfter { break }
                    }
                    kill(pid, SIGKILL)
                    return (-1, nil)
                }
                return await group.reduce(into: [Int: String]()) { result, outcome in
                    if outcome.0 >= 0, let next = outcome.1 { result[outcome.0] = next }
                }
            }
            for (index, next) in outcomes {
                spent.append(presented[index])  // acknowledged: spent for good
                chains[index] = next
                rotations += 1
            }
            await revokingClient.close()
            for client in refreshingClients { await client.close() }
            _ = await daemon.waitForExit()
            daemon = try await DaemonProcess(directory: directory)
            // A refresh cut off by the kill may or may not have committed: present the token again.
            for index in chains.indices where outcomes[index] == nil {
                let probe = daemon.client()
                do {
                    let result = try await probe.refresh(chains[index])
                    spent.append(chains[index])
                    chains[index] = try #require(result.refreshToken)
                } catch let error as AuthdError {
                    // It had committed, so this is reuse and the session is gone: start another.
                    #expect(error.code == .refreshReused || error.code == .tokenRevoked, "\(error)")
                    spent.append(chains[index])
                    chains[index] = try #require(try await probe.issue(subject: "roamer\(index)", refresh: true).refreshToken)
                }
                await probe.close()
            }
        }
        let promised = acknowledged.tokens
        #expect(promised.count >= minimumAcknowledged, "each cycle is killed only after its first acknowledgements")
        #expect(rotations > 0)
        let client = daemon.client()
        for token in promised {
            let error = await #expect(throws: AuthdError.self) { try await client.verify(token: token) }
            #expect(error?.code == .tokenRevoked)
        }
        for token in spent {
            let error = await #expect(throws: AuthdError.self) { try await client.refresh(token) }
            #expect(error?.code == .refreshReused || error?.code == .tokenRevoked)
        }
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(try await SQLiteStore(stateDirectory: daemon.stateDirectory).integrityCheck() == "ok")
        print(
            "crash test: 50 SIGKILLs; \(promised.count) of \(attempted) revocations acknowledged, all enforced; "
                + "\(rotations) refreshes acknowledged, \(spent.count) spent refresh tokens all refused again")
    }
}

/// Tokens whose revocation was acknowledged, collected from concurrent tasks.
final class Acknowledged: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []

    func add(_ token: String) { lock.withLock { storage.append(token) } }
    var tokens: [String] { lock.withLock { storage } }

    /// Counts tasks down to zero; `countDown()` says whether this call was the last.
    final class Countdown: @unchecked Sendable {
        private let lock = NSLock()
        private var remaining: Int

        init(_ count: Int) { remaining = count }

        func countDown() -> Bool { lock.withLock { remaining -= 1; return remaining == 0 } }
    }
}

@Suite("Revocation when the disk fails")
struct RevocationFaultTests {
    @Test(
        "a full state directory: revoke answers storage_failure (never ok), verify keeps serving, and revoke works again once there is room",
        .enabled(if: JournalNamespace.isAvailable, "needs mount namespaces for a small private tmpfs"))
    func fullDisk() async throws {
        let directory = TemporaryDirectory()
        let state = directory.path + "/state"
        let socketPath = directory.path + "/authd.sock"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        // authd runs in a private mount namespace with its state on a 4 MiB tmpfs; the test reaches
        // that file system through /proc/<pid>/root to fill it up.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = [
            "--mount", "--propagation", "private", "sh", "-c",
            "mount -t tmpfs -o size=4m,mode=0700 tmpfs \"$1\" && exec \"$2\" --state-dir \"$1\" --socket \"$3\" --config /dev/null",
            "sh", state, Binaries.authd, socketPath,
        ]
        let logPath = directory.path + "/authd.log"
        try createEmptyFile(logPath)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let deadline = ContinuousClock.now + .seconds(20)
        while await (try? RawConnection(path: socketPath).request(#"{"op":"ping"}"#)) == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let client = AuthdClient(socketPath: socketPath)
        let victim = try await client.issue(subject: "victim")
        let bystander = try await client.issue(subject: "bystander")

        let filler = "/proc/\(process.processIdentifier)/root\(state)/filler"
        try createEmptyFile(filler)
        let handle = try #require(FileHandle(forWritingAtPath: filler))
        let chunk = Data(count: 64 * 1024)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        try? handle.close()

        // Enough revocations that SQLite must grow its files, which the full disk refuses.
        var failures = 0
        for index in 0..<200 {
            do {
                _ = try await client.revoke(.jti(String(repeating: "j", count: 900) + "\(index)"))
            } catch {
                #expect(error.code == .storageFailure)
                failures += 1
            }
        }
        #expect(failures > 0, "the full disk never refused a write")
        #expect(try await client.verify(token: bystander.accessToken).subject == "bystander")
        try FileManager.default.removeItem(atPath: filler)
        #expect(try await client.revoke(.token(victim.accessToken)).revoked == 1)
        let refused = await #expect(throws: AuthdError.self) { try await client.verify(token: victim.accessToken) }
        #expect(refused?.code == .tokenRevoked)
        await client.close()
        kill(process.processIdentifier, SIGTERM)
        #expect(await waitForExit(process) == 0)
    }
}

extension RevocationFaultTests {
    /// Whether `chattr +i` works on this machine's temporary directory (root, and a file system
    /// with the immutable attribute, such as ext4).
    static let immutableFilesWork: Bool = {
        let path = "/tmp/authd-chattr-probe-\(getpid())"
        guard (try? createEmptyFile(path)) != nil else { return false }
        defer {
            _ = try? Process.run(URL(fileURLWithPath: "/usr/bin/chattr"), arguments: ["-i", path]).waitUntilExit()
            try? FileManager.default.removeItem(atPath: path)
        }
        guard let process = try? Process.run(URL(fileURLWithPath: "/usr/bin/chattr"), arguments: ["+i", path]) else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    @Test(
        "a state directory made read-only under a running daemon: storage_failure, verify serves, recovery",
        .enabled(if: immutableFilesWork, "chattr +i is not available for the temporary directory"))
    func readOnlyState() async throws {
        let directory = TemporaryDirectory()
        let daemon = try await DaemonProcess(directory: directory)
        let client = daemon.client()
        let victim = try await client.issue(subject: "victim")
        _ = try await client.revoke(.jti("warm-up"))  // the database and its WAL exist
        _ = try await client.addUser("alice", password: "wonderland", roles: ["user"])
        let aliceSession = try await client.login(username: "alice", password: "wonderland")
        // Root ignores permission bits, but not the immutable attribute: writes to the open files
        // fail with EPERM, as on a read-only file system.
        let files = try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory)
            .filter { $0.hasPrefix("authd.db") }.map { daemon.stateDirectory + "/" + $0 }
        let frozen = try await runCommand("/usr/bin/chattr", ["+i", daemon.stateDirectory] + files)
        #expect(frozen.status == 0, "\(frozen.stderr)")
        let failed = await #expect(throws: AuthdError.self) { try await client.revoke(.token(victim.accessToken)) }
        #expect(failed?.code == .storageFailure)
        #expect(try await client.verify(token: victim.accessToken).subject == "victim")
        // Account changes and logins write too: each is refused, and nothing of a refused change
        // takes effect (alice's session survives the disable that could not be stored).
        for (name, attempt) in [
            ("user_add", { () async throws(AuthdError) in _ = try await client.addUser("bob", password: "builder-bob") }),
            ("user_disable", { () async throws(AuthdError) in _ = try await client.disableUser("alice") }),
            ("login", { () async throws(AuthdError) in _ = try await client.login(username: "alice", password: "wonderland") }),
        ] as [(String, () async throws(AuthdError) -> Void)] {
            let error = await #expect(throws: AuthdError.self, "\(name)") { try await attempt() }
            #expect(error?.code == .storageFailure, "\(name)")
        }
        #expect(try await client.verify(token: aliceSession.accessToken).subject == "alice")
        let thawed = try await runCommand("/usr/bin/chattr", ["-i", daemon.stateDirectory] + files)
        #expect(thawed.status == 0, "\(thawed.stderr)")
        #expect(try await client.revoke(.token(victim.accessToken)).revoked == 1)
        let refused = await #expect(throws: AuthdError.self) { try await client.verify(token: victim.accessToken) }
        #expect(refused?.code == .tokenRevoked)
        #expect(try await client.listUsers().map(\.username) == ["alice"])
        _ = try await client.disableUser("alice")
        let ended = await #expect(throws: AuthdError.self) { try await client.verify(token: aliceSession.accessToken) }
        #expect(ended?.code == .tokenRevoked)
        await client.close()
        #expect(await daemon.stop() == 0)
    }
}
