import ArgumentParser
import AuthdCore
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

    @Option(name: .customLong("exit-idle-after"), help: "Exit after this many seconds without connections (0: never). [default: server.exit_idle_after]")
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
        let notifier = SystemdSupervisor()
        let counters = AuthdCounters()
        let denylist = Denylist()
        let tokens = CurrentTokens(
            try TokenService(
                configuration: settings.configuration.tokens, stateDirectory: settings.stateDirectory,
                counters: counters, denylist: denylist, logger: logger))
        let store: SQLiteStore
        do {
            store = try SQLiteStore(stateDirectory: settings.stateDirectory)
            denylist.load(try store.load(now: SystemUnixClock().now()))
        } catch {
            throw StartupError("cannot open the revocation store: \(error.message)")
        }
        let loaded = denylist.count
        logger.info("revocations loaded", metadata: ["authd.revoked_tokens": "\(loaded.tokens)", "authd.revoked_subjects": "\(loaded.subjects)"])
        let address: ListenAddress =
            if let inherited = try ListenedSocket.inherited() {
                .inheritedSocket(descriptor: inherited.descriptor, name: inherited.name)
            } else {
                .unixDomainSocket(path: settings.socketPath)
            }
        let policy = CurrentPolicy(settings.configuration.policy)
        let accounts = try AccountService(configuration: settings.configuration.users, store: store)
        let handler = RequestHandler(
            tokens: tokens, policy: policy, revoker: Revoker(store: store), refresher: RefreshService(store: store),
            accounts: accounts, version: authdVersion, logger: logger)
        let server = AuthdServer(
            configuration: .init(
                address: address, maximumLineLength: settings.configuration.server.maximumLineLength,
                socketMode: settings.configuration.server.socketMode,
                limits: ConnectionLimits(
                    total: settings.configuration.server.maximumConnections,
                    perUID: settings.configuration.server.maximumConnectionsPerUID),
                idleTimeout: Self.duration(settings.configuration.server.idleTimeout),
                lineTimeout: Self.duration(settings.configuration.server.lineTimeout),
                maximumPendingReplyBytes: settings.configuration.server.maximumPendingReplyBytes),
            handler: handler, counters: counters, logger: logger,
            onReady: { notifier.send(["READY=1", "STATUS=serving"]) })

        let reload: @Sendable () async throws -> Void = {
            let fresh = try loader.load()
            guard fresh.stateDirectory == settings.stateDirectory else {
                throw StartupError("state.directory cannot change while running; restart authd")
            }
            if fresh.configuration.server != settings.configuration.server || fresh.socketPath != settings.socketPath {
                logger.warning("changes to [server] take effect when authd restarts")
            }
            if fresh.configuration.users != settings.configuration.users {
                logger.warning("changes to [users] take effect when authd restarts")
            }
            let reloadedTokens = try TokenService(
                    configuration: fresh.configuration.tokens, stateDirectory: fresh.stateDirectory, counters: counters,
                    denylist: denylist, logger: logger)
            tokens.replace(with: reloadedTokens)
            policy.replace(with: fresh.configuration.policy)
        }

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: server),
            .init(service: KeyRotationService(tokens: tokens, logger: logger)),
            .init(service: ReloadService(notifier: notifier, tokens: tokens, logger: logger, reload: reload)),
            .init(service: RevocationPruningService(store: store, denylist: denylist, logger: logger)),
        ]
        if notifier.isEnabled {
            services.append(.init(service: StatusNotificationService(notifier: notifier, tokens: tokens, interval: .seconds(2))))
        }
        if let interval = notifier.watchdogInterval {
            services.append(.init(service: WatchdogService(notifier: notifier, server: server, interval: interval, logger: logger)))
        }
        if settings.exitIdleAfter > 0 {
            services.append(
                .init(
                    service: IdleExitService(
                        server: server, counters: counters, idleLimit: .seconds(settings.exitIdleAfter), logger: logger),
                    successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Seconds from the configuration as a timeout, where 0 means none.
    private static func duration(_ seconds: Int64) -> Duration? { seconds > 0 ? .seconds(seconds) : nil }

    private func bootstrapLogging(target: LogConfiguration.Target, level: Logger.Level) {
        let useJournal = target == .journal || (target == .auto && JournalLogHandler.isStandardErrorJournal)
        LoggingSystem.bootstrap { label in
            if useJournal {
                var handler = JournalLogHandler(identifier: "authd")
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
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
