import AuthdCore
import AuthdServer
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's settings after the command line has overridden the file.
struct Settings: Sendable {
    var daemon: AuthdDaemon.Settings
    var logLevel: Logger.Level

    var configuration: AuthdConfiguration { daemon.configuration }
}

/// Reads the configuration file and applies the command line, now and again on each reload.
struct SettingsLoader: Sendable {
    static let devDirectory = ".authd-dev"

    let configPath: String?
    let socket: String?
    let stateDirectory: String?
    let dev: Bool
    let logLevel: String?
    let exitIdleAfter: Int64?

    init(command: AuthdCommand) {
        configPath = command.config
        socket = command.socket
        stateDirectory = command.stateDirectory
        dev = command.dev
        logLevel = command.logLevel
        exitIdleAfter = command.exitIdleAfter
    }

    func load() throws(StartupError) -> Settings {
        let configuration = try AuthdConfiguration.load(
            path: configPath ?? "/etc/authd/authd.toml", mustExist: configPath != nil)
        if dev {
            guard mkdir(Self.devDirectory, 0o700) == 0 || errno == EEXIST else {
                throw StartupError("cannot create \(Self.devDirectory): \(String(cString: strerror(errno)))")
            }
        }
        let levelName = logLevel ?? (dev ? "debug" : configuration.log.level)
        return Settings(
            daemon: AuthdDaemon.Settings(
                configuration: configuration,
                socketPath: socket ?? (dev ? "\(Self.devDirectory)/authd.sock" : configuration.server.socketPath),
                stateDirectory: stateDirectory ?? (dev ? "\(Self.devDirectory)/state" : configuration.stateDirectory),
                exitIdleAfter: exitIdleAfter ?? configuration.server.exitIdleAfter),
            logLevel: Logger.Level(rawValue: levelName) ?? .info)
    }
}
