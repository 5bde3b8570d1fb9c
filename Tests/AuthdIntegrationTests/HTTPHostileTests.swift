import AuthdClient
import AuthdProtocol
import Foundation
import Testing

/// The HTTP face of the real binary against callers that misbehave, watching its memory and
/// descriptors from /proc.
@Suite("The HTTP face against hostile callers")
struct HTTPHostileTests {
    static func resident(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    static func descriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    /// The binary with `[server]` keys `server` and its HTTP face on `http.sock` in its directory.
    static func daemon(server: String) async throws -> (DaemonProcess, socket: String) {
        let directory = TemporaryDirectory()
        let socket = directory.path + "/http.sock"
        let daemon = try await DaemonProcess(config: "[server]\n\(server)\n\n[http]\nlisten = [\"unix:\(socket)\"]\n", directory: directory)
        return (daemon, socket)
    }

    @Test("a slowloris is closed after line_timeout; 10,000 keep-alive requests on one connection leave memory and descriptors flat")
    func slowlorisAndKeepAlive() async throws {
        let (daemon, socket) = try await Self.daemon(server: "line_timeout = 1")
        let pid = daemon.process.processIdentifier
        let token = try await daemon.client().issue(subject: "gina", roles: ["user"]).accessToken
        let warm = HTTPTestClient(connection: try await RawConnection.whenListening(path: socket))
        #expect(try await warm.request("GET", "/healthz").status == 200)
        warm.connection.disconnect()

        // A head sent a line at a time, never finished: closed after line_timeout (1 s), not kept
        // for as long as it keeps dribbling. The bound is generous; the loop ends when it closes.
        let loris = try RawConnection(path: socket)
        try await loris.send("GET /auth HTTP/1.1\r\nHost: authd\r\n")
        let started = ContinuousClock.now
        var closed = false
        var line = 0
        while ContinuousClock.now - started < .seconds(15) {
            line += 1
            if await (try? loris.send("X-Dribble-\(line): x\r\n")) == nil || loris.isClosedByPeer() {
                closed = true
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(closed, "a slowloris kept its connection for 15 s with line_timeout = 1")

        // 10,000 requests on one keep-alive connection, pipelined 100 at a time.
        let http = HTTPTestClient(connection: try RawConnection(path: socket))
        let request = HTTPTestClient.format("GET", "/auth?role=user", headers: [("Authorization", "Bearer \(token)")])
        func run(_ rounds: Int) async throws -> Int {
            var answered = 0
            for _ in 0..<rounds {
                try await http.connection.send(String(repeating: request, count: 100))
                for _ in 0..<100 where try await http.readResponse().status == 200 { answered += 1 }
            }
            return answered
        }
        #expect(try await run(10) == 1000)
        let (memoryBefore, descriptorsBefore) = (Self.resident(pid), Self.descriptors(pid))
        #expect(try await run(90) == 9000)
        let (memoryAfter, descriptorsAfter) = (Self.resident(pid), Self.descriptors(pid))
        print("http keep-alive: 10,000 requests, authd RSS \(memoryBefore) -> \(memoryAfter) KiB, descriptors \(descriptorsBefore) -> \(descriptorsAfter)")
        #expect(memoryAfter - memoryBefore < 16_384, "RSS grew from \(memoryBefore) to \(memoryAfter) KiB")
        #expect(descriptorsAfter <= descriptorsBefore, "descriptors went from \(descriptorsBefore) to \(descriptorsAfter)")
        #expect(await daemon.stop() == 0)
        #expect(daemon.log.contains("closing an HTTP connection that made no progress"))
    }

    @Test("an HTTP address it cannot listen on refuses the start (exit 78) and names it")
    func addressInUse() async throws {
        let directory = TemporaryDirectory()
        let taken = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(taken) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(taken, $0, length) == 0 && listen(taken, 1) == 0 && getsockname(taken, $0, &length) == 0 }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let config = directory.path + "/authd.toml"
        try "[http]\nlisten = [\"127.0.0.1:\(port)\"]\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await runCommand(
            Binaries.authd, ["--socket", directory.path + "/authd.sock", "--state-dir", directory.path + "/state", "--config", config])
        #expect(result.status == 78, "\(result.stderr)")
        #expect(result.stderr.contains("cannot serve HTTP on 127.0.0.1:\(port) (http.listen)"), "\(result.stderr)")
    }

    @Test("exit_idle_after: an open HTTP connection is activity, not idleness; once it closes, authd exits idle")
    func idleExitCountsHTTP() async throws {
        // The test owns the listening HTTP socket, as systemd would, and connects before authd
        // starts: the connection is open from authd's first moment, however slow the machine.
        let directory = TemporaryDirectory()
        let listener = try ActivationSocket(path: directory.path + "/http.sock")
        let http = HTTPTestClient(connection: try RawConnection(path: listener.path))
        try await http.connection.send(HTTPTestClient.format("GET", "/healthz"))
        let logPath = directory.path + "/authd.log"
        try "[server]\nexit_idle_after = 1\n".write(toFile: directory.path + "/authd.toml", atomically: true, encoding: .utf8)
        let daemon = try spawnActivated(
            descriptor: listener.descriptor, name: "http", executable: Binaries.authd,
            arguments: ["--socket", directory.path + "/authd.sock", "--state-dir", directory.path + "/state", "--config", directory.path + "/authd.toml"],
            logPath: logPath)
        #expect(try await http.readResponse().status == 200)
        // Quiet but open for longer than exit_idle_after: authd must still be there.
        try await Task.sleep(for: .milliseconds(1500))
        #expect(try await http.request("GET", "/healthz").status == 200)
        http.connection.disconnect()
        let status = await waitForExit(daemon, timeout: .seconds(30))
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(status == 0, "exit status \(status): \(log.suffix(2000))")
        #expect(log.contains("no connections for"))
        #expect(log.contains("inherited fd 3 (http)"))
    }
}
