import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real reverse proxy from Debian (nginx or Caddy) in front of a small upstream, asking authd's
/// HTTP face before each request, from the configuration in `Tests/proxies/` (the README's recipe).
/// It runs as a child process of the test on free loopback ports.
final class ReverseProxy: @unchecked Sendable {
    enum Kind: String, Sendable, CaseIterable {
        case nginx
        case caddy
    }

    static let templates = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("proxies").path

    let kind: Kind
    /// Where clients connect.
    let port: Int
    let directory = TemporaryDirectory()
    private let process = Process()

    /// Starts `kind` asking the HTTP face at `authSocket`; returns once it accepts connections.
    init(_ kind: Kind, authSocket: String) async throws {
        self.kind = kind
        port = try freeLoopbackPort()
        let upstream = try freeLoopbackPort()
        let template = Self.templates + (kind == .nginx ? "/nginx.conf.template" : "/Caddyfile.template")
        let config = try String(contentsOfFile: template, encoding: .utf8)
            .replacingOccurrences(of: "@DIR@", with: directory.path).replacingOccurrences(of: "@AUTHD@", with: authSocket)
            .replacingOccurrences(of: "@PORT@", with: "\(port)").replacingOccurrences(of: "@UPSTREAM@", with: "\(upstream)")
        let configPath = directory.path + (kind == .nginx ? "/nginx.conf" : "/Caddyfile")
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let binary = kind == .nginx ? "/usr/sbin/nginx" : "/usr/bin/caddy"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw DaemonError("\(binary) is missing: make deps installs nginx-light and caddy")
        }
        process.executableURL = URL(fileURLWithPath: binary)
        switch kind {
        case .nginx:
            process.arguments = ["-p", directory.path, "-c", configPath]
        case .caddy:
            process.arguments = ["run", "--config", configPath, "--adapter", "caddyfile"]
            process.environment = [
                "HOME": directory.path, "XDG_DATA_HOME": directory.path + "/data", "XDG_CONFIG_HOME": directory.path + "/config",
                "PATH": "/usr/bin:/bin",
            ]
        }
        let logPath = directory.path + "/proxy.log"
        try createEmptyFile(logPath)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw DaemonError("\(kind) exited at start: \(self.log)") }
            if (try? RawConnection(loopbackPort: port)) != nil, (try? RawConnection(loopbackPort: upstream)) != nil { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DaemonError("\(kind) did not listen within 60 s: \(self.log)")
    }

    var log: String {
        let main = (try? String(contentsOfFile: directory.path + "/proxy.log", encoding: .utf8)) ?? ""
        let nginx = (try? String(contentsOfFile: directory.path + "/error.log", encoding: .utf8)) ?? ""
        return String((main + nginx).suffix(3000))
    }

    /// A client connected to the proxy.
    func client() throws -> HTTPTestClient { try HTTPTestClient(loopbackPort: port) }

    /// Stops the proxy (SIGKILL: how a proxy shuts down is not what these tests are about, and
    /// nginx started from the test process was seen to ignore SIGTERM, which it may inherit
    /// blocked) and waits until it has exited, as /proc tells.
    func stop() async {
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let state = stat.split(separator: ")").last?.split(separator: " ").first, state != "Z"
            else { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
