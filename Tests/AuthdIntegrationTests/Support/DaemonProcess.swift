import AuthdClient
import Foundation

/// Where `swift build` put the binaries: `$AUTHD_BIN_DIR` (the Makefile sets it), else `.build/debug`.
enum Binaries {
    static var directory: String {
        if let path = ProcessInfo.processInfo.environment["AUTHD_BIN_DIR"], !path.isEmpty { return path }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug").path
    }

    static var authd: String { directory + "/authd" }
    static var authctl: String { directory + "/authctl" }
}

/// A private temporary directory, removed when the value goes away.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        // Short, because a Unix socket path must fit in 108 bytes.
        var template = Array("/tmp/authd-it-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The real `authd` binary, started on a temporary socket and state directory: for the tests that
/// need a process boundary (see ``InProcessDaemon`` for the others).
final class DaemonProcess: @unchecked Sendable {
    let directory: TemporaryDirectory
    let process = Process()
    let logPath: String

    /// Starts authd with `config` as its configuration file and waits until it answers.
    /// `launcher` is a command prefix that execs authd in its place (`ip netns exec NAME`).
    init(
        config: String = "", directory: TemporaryDirectory = TemporaryDirectory(), extraArguments: [String] = [],
        launcher: [String] = []
    ) async throws {
        self.directory = directory
        logPath = directory.path + "/authd.log"
        try config.write(toFile: directory.path + "/authd.toml", atomically: true, encoding: .utf8)
        if !FileManager.default.fileExists(atPath: logPath) {
            try createEmptyFile(logPath)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        let command =
            launcher + [Binaries.authd, "--socket", socketPath, "--state-dir", stateDirectory, "--config", configPath, "--log-level", "debug"]
            + extraArguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try await waitUntilReady()
    }

    /// Polls with `ping` until the daemon answers, or fails after 20 seconds.
    func waitUntilReady() async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw DaemonError("authd exited early:\n\(log)") }
            if FileManager.default.fileExists(atPath: socketPath),
                let connection = try? RawConnection(path: socketPath),
                await (try? connection.request(#"{"op":"ping"}"#)) != nil
            {
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DaemonError("authd did not become ready:\n\(log)")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends SIGTERM and returns the exit status.
    @discardableResult
    func stop() async -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        return await waitForExit()
    }

    func waitForExit(timeout: Duration = .seconds(20)) async -> Int32 {
        await AuthdIntegrationTests.waitForExit(process, timeout: timeout)
    }

    deinit {
        // Killed, not awaited: Foundation reaps it, and a deinit must not block.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Creates (or empties) the file at `path`; throws if it cannot.
func createEmptyFile(_ path: String) throws {
    try Data().write(to: URL(fileURLWithPath: path))
}

struct DaemonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The result of running a command to completion.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs a command to completion without blocking a thread of the cooperative pool: output goes to
/// temporary files rather than pipes, and the exit is awaited by polling. (Blocking in
/// `waitUntilExit` on a 2-core machine can starve the tests that would let the process finish.)
func runCommand(
    _ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil,
    timeout: Duration = .seconds(120)
) async throws -> CommandResult {
    let scratch = TemporaryDirectory()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    try (input ?? "").write(toFile: scratch.path + "/in", atomically: true, encoding: .utf8)
    try createEmptyFile(scratch.path + "/out")
    try createEmptyFile(scratch.path + "/err")
    process.standardInput = FileHandle(forReadingAtPath: scratch.path + "/in")
    process.standardOutput = FileHandle(forWritingAtPath: scratch.path + "/out")
    process.standardError = FileHandle(forWritingAtPath: scratch.path + "/err")
    try process.run()
    let status = await waitForExit(process, timeout: timeout)
    return CommandResult(
        status: status, stdout: (try? String(contentsOfFile: scratch.path + "/out", encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: scratch.path + "/err", encoding: .utf8)) ?? "")
}

/// Runs `authctl` with `arguments`, optionally feeding `input` on standard input.
func authctl(_ arguments: [String], input: String? = nil) async throws -> CommandResult {
    var environment = ProcessInfo.processInfo.environment
    environment["AUTHD_SOCKET"] = nil
    return try await runCommand(Binaries.authctl, arguments, input: input, environment: environment)
}

/// Waits for `process` to exit and returns its exit status (or -1 on timeout, after killing it).
func waitForExit(_ process: Process, timeout: Duration = .seconds(20)) async -> Int32 {
    let deadline = ContinuousClock.now + timeout
    while process.isRunning, ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(10))
    }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return -1
    }
    return process.terminationStatus
}
