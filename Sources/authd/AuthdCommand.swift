import ArgumentParser
import AuthdCore
import AuthdServer
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
            Options given here override the configuration file. Exit status: 0 after a clean \
            shutdown, 78 when the configuration or the state on disk is refused, 1 on other failures.
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

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical. [default: info]")
    var logLevel: String?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
    }

    func run() async throws {
        // Everything authd creates is private unless it says otherwise.
        umask(0o077)
        let level = logLevel.flatMap(Logger.Level.init(rawValue:)) ?? (dev ? .debug : .info)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "authd")

        do {
            let settings = try resolveSettings()
            let counters = AuthdCounters()
            let tokens = try TokenService(
                configuration: settings.configuration.tokens, stateDirectory: settings.stateDirectory,
                counters: counters, logger: logger)
            let handler = RequestHandler(tokens: tokens, version: authdVersion, logger: logger)
            let server = AuthdServer(
                configuration: .init(
                    address: .unixDomainSocket(path: settings.socketPath),
                    maximumLineLength: settings.configuration.server.maximumLineLength),
                handler: handler, counters: counters, logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(service: server),
                        .init(service: KeyRotationService(tokens: tokens, logger: logger)),
                    ],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            try await group.run()
        } catch let error as StartupError {
            logger.critical("refusing to start: \(error.message)")
            throw ExitCode(78)
        }
    }

    private struct Settings {
        var configuration: AuthdConfiguration
        var socketPath: String
        var stateDirectory: String
    }

    private func resolveSettings() throws(StartupError) -> Settings {
        let configuration = try AuthdConfiguration.load(
            path: config ?? "/etc/authd/authd.toml", mustExist: config != nil)
        let devDirectory = ".authd-dev"
        if dev {
            try createDevDirectory(devDirectory)
        }
        return Settings(
            configuration: configuration,
            socketPath: socket ?? (dev ? "\(devDirectory)/authd.sock" : configuration.server.socketPath),
            stateDirectory: stateDirectory ?? (dev ? "\(devDirectory)/state" : configuration.stateDirectory))
    }

    private func createDevDirectory(_ path: String) throws(StartupError) {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw StartupError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }
}
