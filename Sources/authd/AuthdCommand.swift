import ArgumentParser
import AuthdCore
import AuthdProtocol
import AuthdServer
import AuthdSystemd
import Logging
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@main
struct AuthdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authd",
        abstract: "The authd token daemon: issues and verifies short-lived JWTs over a Unix socket.",
        discussion: """
            Options given here override the configuration file. Started by systemd with a socket \
            (LISTEN_FDS), authd serves that socket instead of binding --socket. Exit status: 0 after \
            a clean shutdown, 78 when the configuration or the state on disk is refused, 1 on other failures.
            """,
        version: authdVersion
    )

    @Option(help: "The Unix socket to listen on. [default: server.socket, or /run/authd/authd.sock]")
    var socket: String?

    @Option(name: .customLong("state-dir"), help: "Where keys are kept. [default: state.directory, or /var/lib/authd]")
    var stateDirectory: String?

    @Option(help: "The configuration file. [default: /etc/authd/authd.toml, if it exists]")
    var config: String?

    @Flag(help: "Try authd out: socket and state under ./.authd-dev, debug logging.")
    var dev = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical. [default: log.level, or info]")
    var logLevel: String?

    @Option(
        name: .customLong("exit-idle-after"),
        help: "Exit after this long without connections: seconds, or a duration such as 90s or 15m (0: never). [default: server.exit_idle_after]",
        transform: { text in
            guard let seconds = DurationText.commandLineSeconds(text) else {
                throw ValidationError("'\(text)' is not a duration: use seconds, or a form such as 90s, 15m, 1h30m")
            }
            return seconds
        })
    var exitIdleAfter: Int64?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
        if let exitIdleAfter, exitIdleAfter < 0 || exitIdleAfter > 31_536_000 {
            throw ValidationError("--exit-idle-after must be between 0 and 31536000 seconds")
        }
    }

    func run() async throws {
        // Everything authd creates is private unless it says otherwise.
        umask(0o077)
        let loader = SettingsLoader(command: self)
        let settings: Settings
        do {
            settings = try loader.load()
        } catch {
            bootstrapLogging(target: .auto, level: .info)
            Logger(label: "authd").critical("refusing to start: \(error.message)")
            throw ExitCode(78)
        }
        bootstrapLogging(target: settings.configuration.log.target, level: settings.logLevel)
        let logger = Logger(label: "authd")
        do {
            try await serve(settings, loader: loader, logger: logger)
        } catch let error as StartupError {
            logger.critical("refusing to start: \(error.message)")
            throw ExitCode(78)
        } catch let error as ListenedSocket.Refusal {
            logger.critical("refusing to start: \(error.description)")
            throw ExitCode(78)
        }
    }

    private func serve(_ settings: Settings, loader: SettingsLoader, logger: Logger) async throws {
        let inherited = try ListenedSocket.inherited()
        let daemon = try await AuthdDaemon(
            settings: settings.daemon,
            environment: .init(
                notifier: SystemdSupervisor(),
                inheritedSocket: inherited.main.map { .inheritedSocket(descriptor: $0.descriptor, name: $0.name) },
                inheritedHTTPSocket: inherited.http.map { .inheritedSocket(descriptor: $0.descriptor, name: $0.name) },
                reloadSettings: { () throws(StartupError) in try loader.load().daemon }),
            logger: logger)
        try await daemon.runUntilTerminated()
    }

    private func bootstrapLogging(target: LogConfiguration.Target, level: Logger.Level) {
        let useJournal = target == .journal || (target == .auto && JournalLogHandler.isStandardErrorJournal)
        LoggingSystem.bootstrap { label in
            if useJournal {
                var handler = JournalLogHandler(identifier: "authd")
                handler.logLevel = level
                return handler
            }
            var handler = StandardErrorLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// systemd, as the server's supervisor.
struct SystemdSupervisor: ServiceNotifier {
    private let systemd = SystemdNotifier()
    var isEnabled: Bool { systemd.isEnabled }
    var watchdogInterval: Duration? { systemd.watchdogInterval }
    func send(_ assignments: [String]) { systemd.send(assignments) }
    func monotonicMicroseconds() -> UInt64 { SystemdNotifier.monotonicMicroseconds() }
}
