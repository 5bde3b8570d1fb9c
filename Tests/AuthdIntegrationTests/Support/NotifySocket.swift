import Dispatch
import Foundation

/// A datagram socket playing systemd's side of `sd_notify`: it collects what the daemon reports.
/// Waiting blocks in poll(), on a dispatch queue of its own, never on a cooperative-pool thread.
final class NotifySocket: @unchecked Sendable {
    let path: String
    private let descriptor: Int32
    private let queue = DispatchQueue(label: "authd.test.notify")

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let result = withSocketAddress(path) { bind(descriptor, $0, $1) }
        guard result == 0 else { throw DaemonError("cannot bind notify socket: \(String(cString: strerror(errno)))") }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// One message (its assignments), or nil if none arrives within `timeout`.
    func receive(timeout: Duration) async -> [String]? {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: self.receiveNow(timeout: timeout)) }
        }
    }

    private func receiveNow(timeout: Duration) -> [String]? {
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
    func waitFor(_ assignment: String, timeout: Duration = .seconds(20)) async -> (message: [String], before: [[String]])? {
        let deadline = ContinuousClock.now + timeout
        var before: [[String]] = []
        while ContinuousClock.now < deadline {
            guard let message = await receive(timeout: deadline - ContinuousClock.now) else { return nil }
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
        let bound = withSocketAddress(path) { bind(descriptor, $0, $1) }
        guard bound == 0, listen(descriptor, 64) == 0 else { throw DaemonError("cannot listen on \(path)") }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }
}

/// Starts `executable` with `descriptor` as its fd 3 and the `LISTEN_*` variables systemd would set.
///
/// Foundation's `Process` closes every descriptor above 2 in the child and reaps children itself
/// (mixing it with raw `posix_spawn` children deadlocks its reaper), so the socket travels as
/// standard input and a shell moves it to fd 3, exports its own pid as `LISTEN_PID` (it must equal
/// the daemon's) and execs authd.
func spawnActivated(
    descriptor: Int32, name: String = "authd", executable: String, arguments: [String], environment: [String: String] = [:],
    logPath: String
) throws -> Process {
    let quoted = ([executable] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "exec 3<&0 0</dev/null; export LISTEN_PID=$$; exec " + quoted.joined(separator: " ")]
    var env = ProcessInfo.processInfo.environment
    env["LISTEN_FDS"] = "1"
    env["LISTEN_FDNAMES"] = name
    for (key, value) in environment { env[key] = value }
    process.environment = env
    process.standardInput = FileHandle(fileDescriptor: descriptor, closeOnDealloc: false)
    if !FileManager.default.fileExists(atPath: logPath) { try createEmptyFile(logPath) }
    let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
    log.seekToEndOfFile()
    process.standardOutput = log
    process.standardError = log
    try process.run()
    return process
}
