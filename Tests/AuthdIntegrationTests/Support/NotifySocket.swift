import Foundation

/// A datagram socket playing systemd's side of `sd_notify`: it collects what the daemon reports.
final class NotifySocket {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw DaemonError("cannot bind notify socket: \(String(cString: strerror(errno)))") }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// One message (its assignments), or nil if none arrives within `timeout`.
    func receive(timeout: Duration) -> [String]? {
        var pollDescriptor = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&pollDescriptor, 1, milliseconds) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Waits for a message containing `assignment` (e.g. `READY=1`), returning that message and
    /// everything received before it.
    func waitFor(_ assignment: String, timeout: Duration = .seconds(20)) -> (message: [String], before: [[String]])? {
        let deadline = ContinuousClock.now + timeout
        var before: [[String]] = []
        while ContinuousClock.now < deadline {
            guard let message = receive(timeout: deadline - ContinuousClock.now) else { return nil }
            if message.contains(where: { $0 == assignment || $0.hasPrefix(assignment) }) { return (message, before) }
            before.append(message)
        }
        return nil
    }
}

/// A listening Unix socket owned by the test, passed to authd the way systemd passes a socket unit's
/// socket: as file descriptor 3 with `LISTEN_FDS=1`, `LISTEN_PID` and `LISTEN_FDNAMES`. Because the
/// test keeps it open, connections made while authd is down wait in its backlog, as with systemd.
final class ActivationSocket {
    let path: String
    let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else { throw DaemonError("cannot listen on \(path)") }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }
}

/// Starts `executable` with `descriptor` as its fd 3 and the `LISTEN_*` variables systemd would set.
/// `LISTEN_PID` must equal the daemon's pid, so a shell exports its own pid and then execs it.
func spawnActivated(
    descriptor: Int32, name: String = "authd", executable: String, arguments: [String], environment: [String: String] = [:],
    logPath: String
) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, descriptor, 3)
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let quoted = ([executable] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
    let script = "export LISTEN_PID=$$; exec " + quoted.joined(separator: " ")
    var env = ProcessInfo.processInfo.environment
    env["LISTEN_FDS"] = "1"
    env["LISTEN_FDNAMES"] = name
    for (key, value) in environment { env[key] = value }
    let argv: [UnsafeMutablePointer<CChar>?] = ["/bin/sh", "-c", script].map { (text: String) in strdup(text) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, envp)
    guard result == 0 else { throw DaemonError("posix_spawn failed: \(result)") }
    return pid
}

/// Waits for `pid` to exit and returns its exit status (or -1 on timeout, after killing it).
func waitForExit(_ pid: pid_t, timeout: Duration = .seconds(20)) async -> Int32 {
    let deadline = ContinuousClock.now + timeout
    var status: Int32 = 0
    while ContinuousClock.now < deadline {
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
        try? await Task.sleep(for: .milliseconds(10))
    }
    kill(pid, SIGKILL)
    waitpid(pid, &status, 0)
    return -1
}
