public import AuthdCore
public import AuthdProtocol
import AuthdPostgresStore
import AuthdSQLiteStore
public import Logging
public import ServiceLifecycle
import UnixSignals

/// The whole daemon, assembled from its settings: keys and tokens, the store and the denylist it
/// loads, the caller policy, accounts, the server on its socket, and the services that keep it
/// (key rotation, pruning, reload, supervision, idle exit).
///
/// `authd`'s `main` parses its arguments and runs one of these; tests run one in-process. As a
/// `Service` it runs until a graceful shutdown of its task (or an idle exit), then returns once
/// every connection has been answered.
public final class AuthdDaemon: Service, Sendable, CustomStringConvertible {
    /// What the daemon is told, beyond the configuration file.
    public struct Settings: Sendable, Equatable {
        /// The configuration file's contents (or the defaults).
        public var configuration: AuthdConfiguration
        /// Where to bind when no socket is inherited.
        public var socketPath: String
        /// Keys and the database.
        public var stateDirectory: String
        /// Exit after this many seconds without connections; 0 never.
        public var exitIdleAfter: Int64

        /// Settings.
        public init(configuration: AuthdConfiguration, socketPath: String, stateDirectory: String, exitIdleAfter: Int64 = 0) {
            self.configuration = configuration
            self.socketPath = socketPath
            self.stateDirectory = stateDirectory
            self.exitIdleAfter = exitIdleAfter
        }
    }

    /// What the daemon is connected to: each has a default, and tests replace them.
    public struct Environment: Sendable {
        /// The supervisor (systemd in production); `READY=1`, `STATUS=`, the watchdog.
        public var notifier: any ServiceNotifier
        /// Wall-clock time for tokens, revocations and accounts.
        public var clock: any UnixClock
        /// A listening socket to serve instead of binding ``Settings/socketPath`` (socket activation).
        public var inheritedSocket: ListenAddress?
        /// A listening socket for the HTTP face, instead of the addresses `[http] listen` names
        /// (socket activation through `authd-http.socket`).
        public var inheritedHTTPSocket: ListenAddress?
        /// Reads the settings again on SIGHUP; `nil` installs no SIGHUP handler.
        public var reloadSettings: (@Sendable () throws -> Settings)?
        /// The store; `nil` opens SQLite in the state directory.
        public var store: (any AuthdStore)?
        /// The version `status` reports.
        public var version: String

        /// The defaults: no supervisor, the system clock, no reload, SQLite.
        public init(
            notifier: any ServiceNotifier = NoSupervisor(), clock: any UnixClock = SystemUnixClock(),
            inheritedSocket: ListenAddress? = nil, inheritedHTTPSocket: ListenAddress? = nil,
            reloadSettings: (@Sendable () throws -> Settings)? = nil, store: (any AuthdStore)? = nil, version: String = authdVersion
        ) {
            self.notifier = notifier
            self.clock = clock
            self.inheritedSocket = inheritedSocket
            self.inheritedHTTPSocket = inheritedHTTPSocket
            self.reloadSettings = reloadSettings
            self.store = store
            self.version = version
        }
    }

    /// The server on the socket (for its probe, and for tests).
    public let server: AuthdServer
    /// The HTTP face, when it is on.
    public let http: HTTPServer?
    /// Live counters.
    public let counters: AuthdCounters
    private let services: [ServiceGroupConfiguration.ServiceConfiguration]
    private let logger: Logger
    private let stateLock: StateDirectoryLock

    /// Opens the keys and the store, loads the denylist and builds every service. Nothing listens
    /// until ``run()``.
    ///
    /// - Throws: ``StartupError`` for anything in the settings or on disk that authd refuses
    ///   (`authd` exits 78 for it).
    public init(settings: Settings, environment: Environment = Environment(), logger: Logger) async throws(StartupError) {
        self.logger = logger
        // First, before any key or database file is touched: one daemon per state directory.
        stateLock = try StateDirectoryLock(
            stateDirectory: settings.stateDirectory,
            holder: environment.inheritedSocket == nil ? settings.socketPath : "passed by systemd")
        let clock = environment.clock
        let counters = AuthdCounters()
        let denylist = Denylist()
        let fleetConfiguration = environment.store == nil ? settings.configuration.fleet : nil
        let fleetHealth = fleetConfiguration.map { FleetHealth(configuration: $0, appliedSequence: 0, clock: clock) }
        let tokens = CurrentTokens(
            try TokenService(
                configuration: settings.configuration.tokens, stateDirectory: settings.stateDirectory, clock: clock,
                counters: counters, denylist: denylist, fleet: fleetHealth.map { FleetKeys(health: $0) }, logger: logger))
        let store: any AuthdStore
        var storeServices: [any Service] = []
        var keyService: FleetKeyService?
        var loginThrottle: (any FailedLoginCounter)?
        if let fleet = fleetConfiguration, let fleetHealth {
            let assembly = try await FleetAssembly.assemble(
                fleet, stateDirectory: settings.stateDirectory, health: fleetHealth, tokens: tokens, denylist: denylist, clock: clock,
                logger: logger)
            store = assembly.store
            storeServices = assembly.services
            keyService = assembly.keyService
            loginThrottle = FleetLoginThrottle(database: assembly.store.database, policy: settings.configuration.users.throttle)
        } else {
            do throws(StoreError) {
                if let injected = environment.store {
                    store = injected
                } else {
                    store = try SQLiteStore(stateDirectory: settings.stateDirectory)
                }
                denylist.load(try await store.revocations(now: clock.now()))
            } catch {
                throw StartupError("cannot open the store: \(error.message)")
            }
        }
        let loaded = denylist.count
        logger.info(
            "revocations loaded",
            metadata: ["authd.revoked_tokens": "\(loaded.tokens)", "authd.revoked_subjects": "\(loaded.subjects)"])
        let policy = CurrentPolicy(settings.configuration.policy)
        var refreshKeys: (@Sendable () async -> Bool)?
        var keyPublisher: KeyRotationService.Publisher?
        if let keyService {
            refreshKeys = { await keyService.refreshForUnknownKey() }
            keyPublisher = (node: keyService.node, publish: { keys throws(StoreError) in try await keyService.publish(keys) })
        }
        // The HTTP face: the socket systemd passes for it replaces the addresses of `[http] listen`.
        let httpAddresses = environment.inheritedHTTPSocket.map { [$0] } ?? settings.configuration.http.listen.map(\.listenAddress)
        // Requests are counted and timed only when there is a face to serve the metrics.
        let metrics = httpAddresses.isEmpty ? nil : AuthdMetrics(ops: RequestHandler.operations.keys, fleet: fleetHealth != nil)
        let handler = RequestHandler(
            tokens: tokens, policy: policy, revoker: Revoker(store: store, clock: clock),
            refresher: RefreshService(store: store, clock: clock),
            accounts: try AccountService(configuration: settings.configuration.users, store: store, clock: clock, throttle: loginThrottle),
            version: environment.version, fleet: fleetHealth,
            refreshKeys: refreshKeys, metrics: metrics, logger: logger)
        let notifier = environment.notifier
        let server = AuthdServer(
            configuration: .init(settings.configuration.server, address: environment.inheritedSocket ?? .unixDomainSocket(path: settings.socketPath)),
            handler: handler, counters: counters, logger: logger,
            onReady: { notifier.send(["READY=1", "STATUS=serving"]) })
        self.server = server
        self.counters = counters
        let http = metrics.map { metrics in
            HTTPServer(
                configuration: .init(settings.configuration.http, server: settings.configuration.server, addresses: httpAddresses),
                face: HTTPFace(handler: handler, fleet: fleetHealth, metrics: metrics, counters: counters, openConnections: OpenConnections()),
                logger: logger)
        }
        self.http = http

        // The database pool first: services shut down in reverse order, and it must outlive its users.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = storeServices.map { .init(service: $0) } + [
            .init(service: server),
        ] + (http.map { [.init(service: $0)] } ?? []) + [
            .init(
                service: KeyRotationService(tokens: tokens, publish: keyPublisher, logger: logger)),
            .init(service: RevocationPruningService(store: store, denylist: denylist, clock: clock, logger: logger)),
        ]
        if let reloadSettings = environment.reloadSettings {
            let reloader = Reloader(
                running: settings, read: reloadSettings, tokens: tokens, policy: policy, counters: counters, denylist: denylist,
                clock: clock, logger: logger)
            services.append(.init(service: ReloadService(notifier: notifier, tokens: tokens, logger: logger, reload: reloader.reload)))
        }
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
                        listeners: [server] + (http.map { [$0] } ?? []), idleLimit: .seconds(settings.exitIdleAfter), logger: logger),
                    successTerminationBehavior: .gracefullyShutdownGroup))
        }
        self.services = services
    }

    public var description: String { "AuthdDaemon(\(server))" }

    /// Serves until a graceful shutdown of the calling task (or an idle exit).
    public func run() async throws {
        defer { stateLock.release() }
        try await ServiceGroup(configuration: .init(services: services, logger: logger)).run()
    }

    /// Serves until SIGTERM or SIGINT (or an idle exit): what `authd` runs.
    public func runUntilTerminated() async throws {
        defer { stateLock.release() }
        try await ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        ).run()
    }
}

/// No supervisor: nothing listens, so nothing is sent.
public struct NoSupervisor: ServiceNotifier {
    /// None.
    public init() {}
    public var isEnabled: Bool { false }
    public var watchdogInterval: Duration? { nil }
    public func send(_ assignments: [String]) {}
    public func monotonicMicroseconds() -> UInt64 { 0 }
}
