import AuthdClient
import AuthdProtocol
import Foundation
import Testing

@Suite("Limits against misbehaving callers: timeouts, connection caps, backpressure, passed descriptors")
struct LimitsIntegrationTests {
    static var clientsScript: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("hostile/clients.py").path
    }

    static func findings(_ result: CommandResult) throws -> [String: JSONValue] {
        let line = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return try #require(try JSONParser().parse(Array(line.utf8)).objectValue?.entries)
            .reduce(into: [:]) { $0[$1.key] = $1.value }
    }

    /// Waits until the server closes `connection` (a read returns end of file), up to `limit`.
    static func closedByServer(_ connection: RawConnection, within limit: Duration) async -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            if connection.isClosedByPeer() { return ContinuousClock.now - start }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    @Test("a line begun and not finished is closed after line_timeout, even while bytes keep dribbling in")
    func lineTimeout() async throws {
        let daemon = try await InProcessDaemon(config: "[server]\nline_timeout = 1\n")
        let silent = try RawConnection(path: daemon.socketPath)
        try await silent.send(#"{"op":"pi"#)
        #expect(await Self.closedByServer(silent, within: .seconds(30)) != nil)

        let dribbler = try RawConnection(path: daemon.socketPath)
        var closed = false
        for byte in Array(#"{"op":"ping","padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"#.utf8) {
            if await (try? dribbler.send([byte])) == nil || dribbler.isClosedByPeer() {
                closed = true
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(closed, "a dribbling client kept its connection for 4 s with line_timeout = 1")
        // Whole requests are unaffected.
        let healthy = try RawConnection(path: daemon.socketPath)
        for _ in 0..<3 {
            await #expect(try healthy.request(#"{"op":"ping"}"#).errorCode == nil)
            try await Task.sleep(for: .milliseconds(700))
        }
        #expect(daemon.log.contains("a request line was not completed"))
        #expect(await daemon.stop() == 0)
    }

    @Test("a connection that sends nothing is closed after idle_timeout; one that keeps asking is not")
    func idleTimeout() async throws {
        let daemon = try await InProcessDaemon(config: "[server]\nidle_timeout = 2\n")
        let idle = try RawConnection(path: daemon.socketPath)
        let opened = ContinuousClock.now
        #expect(await Self.closedByServer(idle, within: .seconds(30)) != nil, "an idle connection was kept open for 30 s")
        #expect(ContinuousClock.now - opened >= .seconds(2), "closed before idle_timeout")

        // The busy connection asks every 300 ms. A machine so loaded that this client's own gap
        // between two requests grows past half the timeout proves nothing either way, so such a
        // round is run again; a closure after gaps of at most 1 s is authd's fault.
        var conclusiveRounds = 0
        for _ in 0..<5 where conclusiveRounds == 0 {
            let busy = try RawConnection(path: daemon.socketPath)
            let start = ContinuousClock.now
            var lastAsked = start
            var longestGap = Duration.zero
            var closed = false
            while ContinuousClock.now - start < .seconds(4.5) {
                longestGap = max(longestGap, ContinuousClock.now - lastAsked)
                lastAsked = .now
                guard let reply = try? await busy.request(#"{"op":"ping"}"#) else {
                    closed = true
                    break
                }
                #expect(reply.errorCode == nil)
                try await Task.sleep(for: .milliseconds(300))
            }
            longestGap = max(longestGap, ContinuousClock.now - lastAsked)
            closed = closed || busy.isClosedByPeer()
            guard longestGap <= .seconds(1) else { continue }
            conclusiveRounds += 1
            #expect(!closed, "a connection asking at least once a second was closed (longest gap \(longestGap))")
        }
        #expect(conclusiveRounds == 1, "five rounds in a row had a gap over 1 s between requests")

        // A client whose connection was closed for idleness simply reconnects.
        let closures = { daemon.log.components(separatedBy: "no request for 2 s").count - 1 }
        let closedSoFar = closures()
        let client = daemon.client()
        try await client.ping()
        #expect(await eventually { closures() > closedSoFar }, "the client's idle connection was not closed")
        try await client.ping()
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    @Test(
        "max_connections_per_uid and max_connections refuse with too_many_connections, logged once; root still gets in",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && getuid() == 0, "needs root and setpriv"))
    func connectionCaps() async throws {
        let directory = TemporaryDirectory()
        chmod(directory.path, 0o755)
        let daemon = try await InProcessDaemon(
            config: "[server]\nsocket_mode = \"0666\"\nmax_connections_per_uid = 3\nmax_connections = 100\n", directory: directory)
        let asNobody = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", Self.clientsScript]
        let perUID = try Self.findings(
            try await runCommand("/usr/bin/setpriv", asNobody + ["connections", daemon.socketPath, "6"]))
        let codes = perUID["codes"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(codes == ["ok", "ok", "ok", "too_many_connections", "too_many_connections", "too_many_connections"])
        // root is not counted, and the nobody connections are gone again.
        #expect(try await authctl(["--socket", daemon.socketPath, "ping"]).status == 0)
        let refusals = daemon.log.components(separatedBy: "refusing connections: too many").count - 1
        #expect(refusals == 1, "the refusal was logged \(refusals) times")
        #expect(await daemon.stop() == 0)

        let total = try await InProcessDaemon(
            config: "[server]\nsocket_mode = \"0666\"\nmax_connections_per_uid = 10\nmax_connections = 2\n", directory: TemporaryDirectory())
        chmod(total.directory.path, 0o755)
        let totals = try Self.findings(try await runCommand("/usr/bin/setpriv", asNobody + ["connections", total.socketPath, "3"]))
        #expect(totals["codes"]?.arrayValue?.compactMap(\.stringValue) == ["ok", "ok", "too_many_connections"])
        #expect(await total.stop() == 0)
    }

    @Test(
        "a client that pipelines without reading stops being read: authd's memory stays flat, every reply arrives",
        arguments: [false, true])
    func backpressure(validToken: Bool) async throws {
        let daemon = try await DaemonProcess()
        let pid = String(daemon.process.processIdentifier)
        // A valid token is answered on the event loop from the verified-token cache (after its
        // first verification); an invalid one goes through the connection's task. Both must stall.
        var arguments = [Self.clientsScript, "flood", daemon.socketPath, pid, "100000"]
        if validToken {
            let issued = try await authctl(["--socket", daemon.socketPath, "issue", "flood", "--ttl", "1h"])
            arguments.append(issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let result = try await runCommand("/usr/bin/python3", arguments)
        let found = try Self.findings(result)
        let before = found["rss_before_kib"]?.doubleValue ?? 0
        let stalled = found["rss_stalled_kib"]?.doubleValue ?? .infinity
        print("flood unread (\(validToken ? "cache hits" : "invalid tokens")): authd RSS \(before) KiB -> \(stalled) KiB while stalled")
        #expect(found["replies"]?.doubleValue == 100_000)
        #expect(stalled - before < 16 * 1024, "authd buffered \(stalled - before) KiB for a client that did not read")
        #expect(await daemon.stop() == 0)
    }

    @Test("descriptors passed with SCM_RIGHTS are not kept")
    func passedDescriptors() async throws {
        let daemon = try await DaemonProcess()
        let pid = String(daemon.process.processIdentifier)
        let found = try Self.findings(
            try await runCommand("/usr/bin/python3", [Self.clientsScript, "pass-fds", daemon.socketPath, pid, "200"]))
        #expect(found["answered"]?.doubleValue == 200)
        let before = found["fds_before"]?.doubleValue ?? 0
        let after = found["fds_after"]?.doubleValue ?? .infinity
        // The client's own connection is one more descriptor in authd; 600 passed ones must not be.
        #expect(after - before <= 2, "authd went from \(before) to \(after) open descriptors")
        #expect(await daemon.stop() == 0)
    }

    @Test("a world-writable socket directory without the sticky bit is refused; with it, accepted")
    func socketDirectory() async throws {
        let directory = TemporaryDirectory()
        chmod(directory.path, 0o777)
        let refused = try await runCommand(
            Binaries.authd,
            ["--socket", directory.path + "/authd.sock", "--state-dir", directory.path + "/state", "--config", "/dev/null"])
        #expect(refused.status == 78)
        #expect(refused.stderr.contains("sticky"))
        chmod(directory.path, 0o1777)
        let daemon = try await DaemonProcess(directory: directory)
        #expect(await daemon.stop() == 0)
    }
}
