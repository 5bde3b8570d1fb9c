import AuthdProtocol
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What someone new to authd meets first: a second daemon on the same state, authctl without a
/// daemon, a typo, the forms of a duration, the version.
@Suite("What a newcomer meets")
struct NewcomerTests {
    @Test("a second authd on the same state directory names the first (exit 78) and leaves it serving")
    func secondDaemonOnTheSameState() async throws {
        let first = try await DaemonProcess()
        let second = try await runCommand(
            Binaries.authd,
            ["--socket", first.directory.path + "/second.sock", "--state-dir", first.stateDirectory, "--config", "/dev/null"])
        #expect(second.status == 78)
        #expect(second.stderr.contains("another authd (pid \(first.process.processIdentifier), socket \(first.socketPath))"), "\(second.stderr)")
        #expect(second.stderr.contains("is using the state directory \(first.stateDirectory)"))
        #expect(!second.stderr.contains("database is locked"))
        #expect(try await authctl(["--socket", first.socketPath, "ping"]).status == 0)
        #expect(await first.stop() == 0)

        // Once the first has stopped, the lock is free again (the kernel drops it with the process).
        let next = try await DaemonProcess(directory: first.directory)
        #expect(try await authctl(["--socket", next.socketPath, "ping"]).status == 0)
        #expect(await next.stop() == 0)
    }

    @Test("authctl without a daemon says what happened and what to do, without system-call names")
    func noDaemon() async throws {
        let directory = TemporaryDirectory()
        let missing = try await authctl(["--socket", directory.path + "/authd.sock", "status"])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("authd is not running: there is no socket at \(directory.path)/authd.sock"))
        #expect(missing.stderr.contains("systemctl start authd.socket"))
        #expect(missing.stderr.contains("make run"))
        #expect(!missing.stderr.contains("descriptor"), "\(missing.stderr)")

        // A socket file left behind by a daemon that is gone: nothing listens.
        let stale = directory.path + "/stale.sock"
        try leaveSocketFile(at: stale)
        let refused = try await authctl(["--socket", stale, "ping"])
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("nothing listens on \(stale)"), "\(refused.stderr)")
    }

    @Test(
        "a user who may not open the socket is told about the authd-clients group",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && getuid() == 0, "needs root and setpriv"))
    func notInTheGroup() async throws {
        let directory = TemporaryDirectory()
        chmod(directory.path, 0o755)
        let path = directory.path + "/authd.sock"
        try leaveSocketFile(at: path)
        chmod(path, 0o660)
        let denied = try await runCommand(
            "/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", Binaries.authctl, "--socket", path, "ping"])
        #expect(denied.status == 3)
        #expect(denied.stderr.contains("permission denied on \(path)"), "\(denied.stderr)")
        #expect(denied.stderr.contains("authd-clients"))
    }

    @Test("a mistyped subcommand is named with a suggestion (exit 64)")
    func typo() async throws {
        let typo = try await authctl(["isue", "alice"])
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("unknown command 'isue'; did you mean 'issue'?"), "\(typo.stderr)")
        let swapped = try await authctl(["--socket", "/nonexistent", "--json", "verfiy"])
        #expect(swapped.stderr.contains("did you mean 'verify'?"), "\(swapped.stderr)")
        let unknown = try await authctl(["frobnicate"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("the commands are issue, verify,"), "\(unknown.stderr)")
        // Real subcommands and help still reach argument-parser.
        #expect(try await authctl(["help", "issue"]).stdout.contains("USAGE: authctl issue"))
        #expect(try await authctl(["user", "--help"]).status == 0)
    }

    @Test("--ttl takes the configuration's duration forms; --version prints the release")
    func durationsAndVersion() async throws {
        let daemon = try await InProcessDaemon()
        let socket = ["--socket", daemon.socketPath]
        for (text, seconds) in [("15m", 900), ("1h", 3600), ("90s", 90), ("1m30s", 90), ("600", 600)] {
            let issued = try await authctl(["--json"] + socket + ["issue", "alice", "--ttl", text])
            #expect(issued.status == 0, "\(text): \(issued.stderr)")
            let result = try JSONParser().parse(issued.stdout.trimmingCharacters(in: .newlines)).objectValue
            #expect(result?["expires_in"]?.int64Value == Int64(seconds), "\(text)")
        }
        for bad in ["15q", "0", "-5", "m", ""] {
            #expect(try await authctl(socket + ["issue", "alice", "--ttl", bad]).status == 64, "\(bad)")
        }
        let version = try await authctl(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == authdVersion)
        #expect(await daemon.stop() == 0)
    }

    /// Binds a Unix socket at `path` and closes it without removing the file, as a daemon killed
    /// before it could clean up leaves it.
    private func leaveSocketFile(at path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DaemonError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw DaemonError("bind \(path): \(errno)") }
    }
}
