import AuthdClient
import AuthdProtocol
import Foundation
import Testing

@Suite("systemd: socket activation, sd_notify, watchdog, reload, idle exit")
struct SystemdTests {
    /// Starts authd under `systemd-socket-activate` with `options` (its sockets and environment),
    /// its state in `directory` and its stderr in `authd.log` there. The process's pid is
    /// authd's: systemd-socket-activate execs it.
    static func socketActivate(
        _ options: [String], directory: TemporaryDirectory, configPath: String
    ) throws -> (process: Process, logPath: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-socket-activate")
        process.arguments = options + [Binaries.authd, "--state-dir", directory.path + "/state", "--config", configPath]
        let logPath = directory.path + "/authd.log"
        try createEmptyFile(logPath)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()
        return (process, logPath)
    }

    @Test("under systemd-socket-activate: first connection served, READY/STATUS, watchdog rate, SIGHUP reload, STOPPING and exit 0")
    func socketActivated() async throws {
        let directory = TemporaryDirectory()
        let notify = try NotifySocket(path: directory.path + "/notify.sock")
        let socketPath = directory.path + "/authd.sock"
        let configPath = directory.path + "/authd.toml"
        try "[tokens]\nttl = 600\n".write(toFile: configPath, atomically: true, encoding: .utf8)
        // systemd-socket-activate execs authd in its own process, so the Process's pid is authd's.
        // It also closes every inherited descriptor, including the one Foundation watches to learn
        // that a child exited, so Foundation's reaper then blocks in waitpid() on it until authd
        // exits: no test may block a pool thread waiting for another process meanwhile.
        let (process, logPath) = try Self.socketActivate(
            ["-l", socketPath, "--fdname=authd", "-E", "NOTIFY_SOCKET=\(notify.path)", "-E", "WATCHDOG_USEC=300000"],
            directory: directory, configPath: configPath)
        let pid = process.processIdentifier
        defer { if process.isRunning { kill(pid, SIGKILL) } }
        // The first connection starts authd and gets its answer.
        let first = try await RawConnection.whenListening(path: socketPath)
        await #expect(try first.request(#"{"id":1,"op":"ping"}"#).id == .int(1))
        let ready = try #require(await notify.waitFor("READY=1"))
        #expect(ready.message.contains { $0.hasPrefix("STATUS=") })

        // Keep-alives every half WATCHDOG_USEC (150 ms): about 14 in 2.2 seconds. What queued up
        // before the window (a busy machine may have kept this test from reading for a while) is
        // drained first, or a backlog would count as a burst.
        var statusBefore: [String] = []
        while let queued = await notify.receive(timeout: .zero) { statusBefore += queued.filter { $0.hasPrefix("STATUS=") } }
        var keepAlives = 0
        var statusUpdates: [String] = []
        let window = ContinuousClock.now + .seconds(2.2)
        while ContinuousClock.now < window, let message = await notify.receive(timeout: window - ContinuousClock.now) {
            if message.contains("WATCHDOG=1") { keepAlives += 1 }
            statusUpdates += message.filter { $0.hasPrefix("STATUS=") }
        }
        #expect((9...18).contains(keepAlives), "keep-alives in 2.2 s: \(keepAlives)")
        #expect((statusBefore + statusUpdates).contains { $0.contains("connections") }, "\(statusUpdates)")

        // SIGHUP reloads: RELOADING=1 with MONOTONIC_USEC, then READY=1, and the new ttl applies.
        try "[tokens]\nttl = 120\n".write(toFile: configPath, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        let reloading = try #require(await notify.waitFor("RELOADING=1"))
        let monotonic = reloading.message.first { $0.hasPrefix("MONOTONIC_USEC=") }
        #expect(monotonic.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) } != nil)
        #expect(await notify.waitFor("READY=1") != nil)
        let issued = try await first.request(#"{"op":"issue","sub":"alice"}"#)
        #expect(issued.resultObject?["expires_in"] == .int(120))

        // A bad config on reload keeps the running one and says why.
        try "[tokens]\nttl = \"never\"\n".write(toFile: configPath, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        #expect(await notify.waitFor("RELOADING=1") != nil)
        let refused = try #require(await notify.waitFor("READY=1"))
        #expect(refused.message.contains { $0.hasPrefix("STATUS=reload refused") && $0.contains("tokens.ttl") })
        await #expect(try first.request(#"{"op":"issue","sub":"bob"}"#).resultObject?["expires_in"] == .int(120))

        // SIGTERM: STOPPING=1, exit 0.
        kill(pid, SIGTERM)
        #expect(await notify.waitFor("STOPPING=1") != nil)
        #expect(await waitForExit(process) == 0)
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("inherited fd 3 (authd)"))
        #expect(log.contains("reload refused"))
    }

    @Test("two sockets from systemd, authd and http: an HTTP request starts authd, each socket serves its protocol")
    func httpSocketActivated() async throws {
        let directory = TemporaryDirectory()
        let socketPath = directory.path + "/authd.sock"
        let httpPath = directory.path + "/http.sock"
        let configPath = directory.path + "/authd.toml"
        try "".write(toFile: configPath, atomically: true, encoding: .utf8)
        let (process, logPath) = try Self.socketActivate(
            ["-l", socketPath, "-l", httpPath, "--fdname=authd:http"], directory: directory, configPath: configPath)
        let pid = process.processIdentifier
        defer { if process.isRunning { kill(pid, SIGKILL) } }
        // The first connection, an HTTP one, starts authd.
        let http = HTTPTestClient(connection: try await RawConnection.whenListening(path: httpPath))
        let health = try await http.request("GET", "/healthz")
        #expect(health.status == 200)
        let line = try RawConnection(path: socketPath)
        let token = try #require(try await line.request(#"{"op":"issue","sub":"erin"}"#).resultObject?["access_token"]?.stringValue)
        let auth = try await http.request("GET", "/auth", headers: [("Authorization", "Bearer \(token)")])
        #expect(auth.status == 200 && auth.header("X-Auth-Request-User") == "erin")
        kill(pid, SIGTERM)
        #expect(await waitForExit(process) == 0)
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("inherited fd 3 (authd)"), "\(log.suffix(2000))")
        #expect(log.contains("inherited fd 4 (http)"), "\(log.suffix(2000))")
    }

    @Test("idle exit, then re-activation by a queued connection; keys and tokens survive")
    func idleExitAndReactivation() async throws {
        let directory = TemporaryDirectory()
        let listener = try ActivationSocket(path: directory.path + "/authd.sock")
        let logPath = directory.path + "/authd.log"
        let arguments = ["--state-dir", directory.path + "/state", "--config", "/dev/null", "--exit-idle-after", "1"]

        let first = try spawnActivated(descriptor: listener.descriptor, executable: Binaries.authd, arguments: arguments, logPath: logPath)
        let connection = try RawConnection(path: listener.path)
        let token = try await #require(try connection.request(#"{"op":"issue","sub":"alice"}"#).resultObject?["access_token"]?.stringValue)
        let started = ContinuousClock.now
        // An open connection is not idleness, however quiet: authd must not exit under it.
        try await Task.sleep(for: .milliseconds(1500))
        await #expect(try connection.request(#"{"op":"ping"}"#).errorCode == nil)
        connection.disconnect()
        #expect(await waitForExit(first) == 0)
        #expect(ContinuousClock.now - started >= .seconds(2))

        // While authd is down the socket stays open: a client connects and sends, and waits.
        let queued = try RawConnection(path: listener.path)
        try await queued.send(#"{"id":"after","op":"verify","token":"\#(token)"}"# + "\n")
        let second = try spawnActivated(descriptor: listener.descriptor, executable: Binaries.authd, arguments: arguments, logPath: logPath)
        let line = try await #require(try queued.readLine())
        let reply = try ReplyEnvelope.parse(Array(line.utf8))
        #expect(reply.id == .string("after"))
        #expect(reply.resultObject?["sub"] == "alice")
        kill(second.processIdentifier, SIGTERM)
        #expect(await waitForExit(second) == 0)
    }

    @Test("an inherited socket that is not a listening Unix stream socket is refused with status 78")
    func refusesWrongSocketType() async throws {
        let directory = TemporaryDirectory()
        let datagram = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(datagram) }
        let daemon = try spawnActivated(
            descriptor: datagram, executable: Binaries.authd,
            arguments: ["--state-dir", directory.path + "/state", "--config", "/dev/null"], logPath: directory.path + "/log")
        #expect(await waitForExit(daemon) == 78)
        let log = try String(contentsOfFile: directory.path + "/log", encoding: .utf8)
        #expect(log.contains("not a listening AF_UNIX stream socket"))
    }
}
