import AuthdClient
import AuthdCore
import AuthdServer
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// What a test needs of a running daemon, whether it runs in this process or as the binary.
protocol TestDaemon: Sendable {
    /// Holds the socket, the state directory and the configuration file.
    var directory: TemporaryDirectory { get }
    /// What the daemon logged so far.
    var log: String { get }
    /// Shuts the daemon down gracefully; 0 when it stopped cleanly.
    @discardableResult func stop() async -> Int32
}

extension TestDaemon {
    var socketPath: String { directory.path + "/authd.sock" }
    var stateDirectory: String { directory.path + "/state" }
    var configPath: String { directory.path + "/authd.toml" }

    /// A client with a generous timeout: the suite runs many daemons in parallel on two cores.
    func client() -> AuthdClient {
        AuthdClient(configuration: .init(socketPath: socketPath, requestTimeout: .seconds(60)))
    }
}

extension DaemonProcess: TestDaemon {}

/// The whole daemon, assembled by ``AuthdDaemon`` exactly as `authd` assembles it, running in
/// this process on a temporary socket and state directory: for every test that needs no process
/// boundary (signals, SIGKILL, socket activation, another uid's process, the journal, memory of
/// its own). It starts in a fraction of the binary's time and its log is captured in memory.
final class InProcessDaemon: TestDaemon, @unchecked Sendable {
    let directory: TemporaryDirectory
    let daemon: AuthdDaemon
    private let logs: LogCapture
    private let group: ServiceGroup
    private let running: Task<Int32, Never>

    /// Starts a daemon configured by `config` (the text of `authd.toml`) and returns once it
    /// accepts connections.
    init(config: String = "", directory: TemporaryDirectory = TemporaryDirectory(), clock: any UnixClock = SystemUnixClock()) async throws {
        self.directory = directory
        try config.write(toFile: directory.path + "/authd.toml", atomically: true, encoding: .utf8)
        let logs = LogCapture()
        self.logs = logs
        var logger = Logger(label: "authd") { _ in CapturingLogHandler(capture: logs) }
        logger.logLevel = .debug
        let settings = AuthdDaemon.Settings(
            configuration: try AuthdConfiguration(toml: config), socketPath: directory.path + "/authd.sock",
            stateDirectory: directory.path + "/state")
        let readiness = ReadinessNotifier()
        daemon = try await Self.assemble(settings: settings, environment: .init(notifier: readiness, clock: clock), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
        self.group = group
        running = Task {
            defer { readiness.finish() }
            do {
                try await group.run()
                return 0
            } catch {
                logger.critical("the daemon failed: \(error)")
                return 1
            }
        }
        guard await readiness.waitUntilReady() else {
            throw DaemonError("the in-process daemon stopped before it was ready:\n\(logs.text)")
        }
    }

    var log: String { logs.text }

    /// Assembles the daemon. A state directory still locked by this very process, just after a
    /// daemon on it stopped, is waited for (up to 30 s): the lock's descriptor is close-on-exec,
    /// but a child that another test is starting holds a copy of it from its fork to its exec,
    /// which on a busy machine can span the moment a test restarts its daemon.
    private static func assemble(
        settings: AuthdDaemon.Settings, environment: AuthdDaemon.Environment, logger: Logger
    ) async throws -> AuthdDaemon {
        let ours = "another authd (pid \(getpid()),"
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let failure: StartupError
            do {
                return try await AuthdDaemon(settings: settings, environment: environment, logger: logger)
            } catch {
                failure = error
            }
            guard failure.message.hasPrefix(ours), ContinuousClock.now < deadline else { throw failure }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Shuts down gracefully. A daemon that has not stopped within two minutes fails the test
    /// with its log (and is then cancelled), so a shutdown that hangs is a failure, not a stuck suite.
    @discardableResult
    func stop() async -> Int32 {
        await group.triggerGracefulShutdown()
        let running = self.running
        let stopped = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = await running.value
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(120))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        guard stopped else {
            Issue.record("the in-process daemon did not stop within 120 s; its log:\n\(log.suffix(20_000))")
            running.cancel()
            return -1
        }
        return await running.value
    }

    deinit {
        // A test that failed before stopping it: shut it down rather than leak a listener.
        let group = self.group
        Task { await group.triggerGracefulShutdown() }
    }
}

/// Hears `READY=1` from the daemon's server, as systemd would.
private final class ReadinessNotifier: ServiceNotifier {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: Void.self) }

    var isEnabled: Bool { false }
    var watchdogInterval: Duration? { nil }
    func monotonicMicroseconds() -> UInt64 { 0 }

    func send(_ assignments: [String]) {
        if assignments.contains("READY=1") { continuation.yield() }
    }

    func finish() { continuation.finish() }

    /// Whether the daemon became ready (rather than stopping first).
    func waitUntilReady() async -> Bool {
        for await _ in stream { return true }
        return false
    }
}

/// Log lines kept in memory, formatted like swift-log's stream handler (`key=value` metadata).
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

private struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        capture.append("\(event.level) authd: \(fields) [\(event.source)] \(event.message)")
    }
}
