import AuthdClient
import AuthdCore
import AuthdProtocol
import Foundation
import Testing

@Suite("Revocation through the real daemon", .serialized)
struct RevocationIntegrationTests {
    @Test("authctl revoke by token, jti and subject; enforced at once and after a restart")
    func revokeAndRestart() async throws {
        let directory = TemporaryDirectory()
        let daemon = try await DaemonProcess(directory: directory)
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
        let bySubject = try await client.revoke(.subject("carol", before: nil))
        #expect(bySubject.revoked == 1)
        let refused = await #expect(throws: AuthdError.self) { try await client.verify(token: third.accessToken) }
        #expect(refused?.code == .tokenRevoked)
        #expect(try await authctl(socket + ["revoke", "--jti", "x", "--subject", "y"]).status == 64)
        #expect(try await authctl(socket + ["revoke", first.accessToken + "x"]).status == 10)
        await client.close()
        #expect(await daemon.stop() == 0)

        let restarted = try await DaemonProcess(directory: directory)
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

    @Test("SIGKILL mid-write, 50 times: every revocation answered ok is enforced afterwards; the database stays intact")
    func survivesKill() async throws {
        let directory = TemporaryDirectory()
        var daemon = try await DaemonProcess(directory: directory)
        let acknowledged = Acknowledged()
        var attempted = 0
        for cycle in 0..<50 {
            let client = daemon.client()
            var tokens: [String] = []
            for index in 0..<8 { tokens.append(try await client.issue(subject: "u\(cycle)-\(index)").accessToken) }
            attempted += tokens.count
            // Revoke concurrently and kill the daemon while the writes are in flight: some are
            // acknowledged, some are cut off. Only the acknowledged ones are promised.
            let pid = daemon.process.processIdentifier
            await withTaskGroup(of: Void.self) { group in
                for token in tokens {
                    group.addTask {
                        if (try? await client.revoke(.token(token))) != nil { acknowledged.add(token) }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .microseconds(Int64.random(in: 500...12_000)))
                    kill(pid, SIGKILL)
                }
            }
            await client.close()
            _ = await daemon.waitForExit()
            daemon = try await DaemonProcess(directory: directory)
        }
        let promised = acknowledged.tokens
        #expect(!promised.isEmpty)
        let client = daemon.client()
        for token in promised {
            let error = await #expect(throws: AuthdError.self) { try await client.verify(token: token) }
            #expect(error?.code == .tokenRevoked)
        }
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(try SQLiteStore(stateDirectory: daemon.stateDirectory).integrityCheck() == "ok")
        print("crash test: \(promised.count) of \(attempted) revocations acknowledged across 50 SIGKILLs, all enforced")
    }
}

extension RevocationIntegrationTests {
    @Test("SIGKILL mid-refresh, 50 times: no refresh token is ever spent twice")
    func refreshSurvivesKill() async throws {
        let directory = TemporaryDirectory()
        var daemon = try await DaemonProcess(directory: directory)
        var spent: [String] = []
        var current = try #require(try await daemon.client().issue(subject: "roamer", refresh: true).refreshToken)
        var rotations = 0
        for _ in 0..<50 {
            let client = daemon.client()
            let pid = daemon.process.processIdentifier
            let presented = current
            async let outcome: Result<IssueResult, AuthdError> = {
                do { return .success(try await client.refresh(presented)) } catch let error as AuthdError { return .failure(error) }
                catch { return .failure(AuthdError(.internalError, "\(error)")) }
            }()
            try? await Task.sleep(for: .microseconds(Int64.random(in: 0...6000)))
            kill(pid, SIGKILL)
            switch await outcome {
            case .success(let result):
                // Acknowledged: the presented token is spent for good.
                spent.append(presented)
                current = try #require(result.refreshToken)
                rotations += 1
            case .failure:
                // Cut off: it may or may not have been spent. Find out after the restart.
                break
            }
            await client.close()
            _ = await daemon.waitForExit()
            daemon = try await DaemonProcess(directory: directory)
            if !spent.contains(current) {
                let probe = daemon.client()
                do {
                    let result = try await probe.refresh(current)
                    spent.append(current)
                    current = try #require(result.refreshToken)
                } catch let error as AuthdError {
                    // The cut-off refresh had committed: the token was spent, so presenting it again
                    // is reuse, and the session is gone. Start a new one.
                    #expect(error.code == .refreshReused || error.code == .tokenRevoked, "\(error)")
                    spent.append(current)
                    current = try #require(try await probe.issue(subject: "roamer", refresh: true).refreshToken)
                }
                await probe.close()
            }
        }
        let client = daemon.client()
        for token in spent {
            let error = await #expect(throws: AuthdError.self) { try await client.refresh(token) }
            #expect(error?.code == .refreshReused || error?.code == .tokenRevoked)
        }
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(try SQLiteStore(stateDirectory: daemon.stateDirectory).integrityCheck() == "ok")
        print("crash test: \(rotations) of 50 refreshes acknowledged before SIGKILL; \(spent.count) spent tokens all refused again")
    }
}

/// Tokens whose revocation was acknowledged, collected from concurrent tasks.
final class Acknowledged: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []

    func add(_ token: String) { lock.withLock { storage.append(token) } }
    var tokens: [String] { lock.withLock { storage } }
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
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let deadline = ContinuousClock.now + .seconds(20)
        while (try? RawConnection(path: socketPath).request(#"{"op":"ping"}"#)) == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let client = AuthdClient(socketPath: socketPath)
        let victim = try await client.issue(subject: "victim")
        let bystander = try await client.issue(subject: "bystander")

        let filler = "/proc/\(process.processIdentifier)/root\(state)/filler"
        FileManager.default.createFile(atPath: filler, contents: nil)
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
        FileManager.default.createFile(atPath: path, contents: nil)
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
        // Root ignores permission bits, but not the immutable attribute: writes to the open files
        // fail with EPERM, as on a read-only file system.
        let files = try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory)
            .filter { $0.hasPrefix("authd.db") }.map { daemon.stateDirectory + "/" + $0 }
        let frozen = try await runCommand("/usr/bin/chattr", ["+i", daemon.stateDirectory] + files)
        #expect(frozen.status == 0, "\(frozen.stderr)")
        let failed = await #expect(throws: AuthdError.self) { try await client.revoke(.token(victim.accessToken)) }
        #expect(failed?.code == .storageFailure)
        #expect(try await client.verify(token: victim.accessToken).subject == "victim")
        let thawed = try await runCommand("/usr/bin/chattr", ["-i", daemon.stateDirectory] + files)
        #expect(thawed.status == 0, "\(thawed.stderr)")
        #expect(try await client.revoke(.token(victim.accessToken)).revoked == 1)
        let refused = await #expect(throws: AuthdError.self) { try await client.verify(token: victim.accessToken) }
        #expect(refused?.code == .tokenRevoked)
        await client.close()
        #expect(await daemon.stop() == 0)
    }
}
