public import AuthdCore
public import Logging
import NIOCore
import NIOSSL
public import PostgresNIO
import Synchronization

/// The connection to the fleet's PostgreSQL database: a small pool for requests, and the settings
/// for the dedicated listening connection of the revocation feed.
///
/// Every operation fails fast with ``StoreError/Code/disconnected`` while the node knows the
/// database to be unreachable, and gives up after ``operationTimeout`` otherwise, so that an op
/// that needs the database answers `fleet_unavailable` instead of hanging. No message carries the
/// password or a query's bound values.
public final class FleetDatabase: Sendable {
    /// The pool. It is a `Service`: the daemon runs it in its `ServiceGroup`.
    public let client: PostgresClient
    /// The node's standing with the database.
    public let health: FleetHealth
    let configuration: FleetConfiguration
    let listenerConfiguration: PostgresConnection.Configuration
    let logger: Logger
    /// How long one operation may take before the node reports the database unreachable.
    let operationTimeout: Duration
    /// Set by the feed when a node announced new keys; the key service reads them and clears it.
    let keysChanged = Atomic<Bool>(false)

    /// Prepares the pool for `configuration` (nothing connects until the client runs).
    ///
    /// - Throws: ``StartupError`` when the TLS settings cannot be applied (an unreadable CA file).
    public init(
        configuration: FleetConfiguration, password: String?, health: FleetHealth, operationTimeout: Duration = .seconds(5),
        logger: Logger
    ) throws(StartupError) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = configuration.tlsCAFile { tls.trustRoots = .file(caFile) }
        // `prefer` (the default on loopback) encrypts when the server offers TLS, as libpq's
        // sslmode=prefer does, without verifying a certificate no one may have issued (Debian's
        // PostgreSQL ships a self-signed one): an impostor could refuse TLS anyway, so verifying here
        // would only break the loopback default, not stop an active attacker. `require` verifies;
        // so does `prefer` once the operator names a CA with tls_ca_file.
        if configuration.tls == .prefer, configuration.tlsCAFile == nil { tls.certificateVerification = .none }
        var poolConfiguration: PostgresClient.Configuration
        var listener: PostgresConnection.Configuration
        let database = configuration.database
        switch configuration.endpoint {
        case .tcp(let host, let port):
            let poolTLS: PostgresClient.Configuration.TLS
            let listenerTLS: PostgresConnection.Configuration.TLS
            do {
                switch configuration.tls {
                case .disable:
                    (poolTLS, listenerTLS) = (.disable, .disable)
                case .prefer:
                    (poolTLS, listenerTLS) = (.prefer(tls), .prefer(try NIOSSLContext(configuration: tls)))
                case .require:
                    (poolTLS, listenerTLS) = (.require(tls), .require(try NIOSSLContext(configuration: tls)))
                }
            } catch {
                throw StartupError("cannot set up TLS for the fleet database (fleet.tls_ca_file?): \(error)")
            }
            poolConfiguration = .init(
                host: host, port: port, username: configuration.user, password: password, database: database, tls: poolTLS)
            listener = .init(host: host, port: port, username: configuration.user, password: password, database: database, tls: listenerTLS)
        case .unixSocket:
            let path = configuration.endpoint.socketPath ?? ""
            poolConfiguration = .init(unixSocketPath: path, username: configuration.user, password: password, database: database)
            listener = .init(unixSocketPath: path, username: configuration.user, password: password, database: database)
        }
        poolConfiguration.options.maximumConnections = configuration.poolSize
        poolConfiguration.options.minimumConnections = 1
        poolConfiguration.options.connectTimeout = operationTimeout
        poolConfiguration.options.keepAliveBehavior = .init(frequency: .seconds(15))
        listener.options.connectTimeout = .seconds(Int64(operationTimeout.components.seconds))
        // The application name shows which node holds which connection in pg_stat_activity.
        poolConfiguration.options.additionalStartupParameters = [("application_name", "authd \(configuration.node)")]
        listener.options.additionalStartupParameters = [("application_name", "authd \(configuration.node) feed")]
        self.client = PostgresClient(configuration: poolConfiguration, backgroundLogger: logger)
        self.listenerConfiguration = listener
        self.configuration = configuration
        self.health = health
        self.operationTimeout = operationTimeout
        self.logger = logger
    }

    /// This node's name.
    public var node: String { configuration.node }

    /// Connects once, with a short timeout, and brings the schema up to date, to refuse at start
    /// what no retry would fix: a wrong password, an unknown role or database, a missing right,
    /// a schema from a newer authd. A database that cannot be reached is not refused: the node
    /// starts on its local cache, and the feed connects (and migrates) when the database answers.
    ///
    /// On the same connection (the pool runs only once the daemon does), it publishes `keys`, this
    /// node's public keys, and reads every node's: the node's first token then verifies
    /// everywhere, and it verifies the others' from its first request.
    ///
    /// - Returns: every node's published keys, or `nil` if the database did not answer.
    public func prepare(publishing keys: [PublishedKey], now: Int64) async throws(StartupError) -> [PublishedKey]? {
        let (configuration, logger) = (listenerConfiguration, self.logger)
        let outcome = await Deadline.race(operationTimeout) { () async throws -> [PublishedKey] in
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            do {
                try await PostgresSchema.migrate(connection, logger: logger)
                if !keys.isEmpty {
                    try await connection.withTransaction(logger: logger) { connection in
                        try await Self.publish(keys, on: connection, logger: logger)
                    }
                }
                let published = try await Self.publishedKeys(now: now, on: connection, logger: logger)
                try? await connection.close()
                return published
            } catch {
                try? await connection.close()
                throw error
            }
        }
        switch outcome {
        case .success(let published)?:
            health.reachable()
            return published
        case .failure(let error as StoreError)? where error.code == .unsupportedSchema:
            throw StartupError(error.message)
        case .failure(let error)? where PostgresFailure.isFatalAtStart(error):
            throw StartupError(
                "the fleet database refused this node (check fleet.database and the password): \(PostgresFailure.describe(error))")
        case .failure(let error)?:
            logger.warning(
                "cannot reach the fleet database; serving from the local cache until it answers",
                metadata: ["authd.reason": "\(PostgresFailure.describe(error))"])
        case nil:
            logger.warning("the fleet database did not answer in time; serving from the local cache until it answers")
        }
        return nil
    }

    /// Runs `body` in one transaction on a pooled connection.
    ///
    /// - Throws: ``StoreError/Code/disconnected`` when the database is known to be unreachable,
    ///   cannot be reached, or does not answer within ``operationTimeout`` (the transaction may
    ///   then have committed or not); any other failure as ``StoreError/Code/unavailable``.
    func transaction<Value: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Value
    ) async throws(StoreError) -> Value {
        let (client, logger) = (self.client, self.logger)
        return try await run(what) {
            try await client.withTransaction(logger: logger) { connection in try await body(connection, logger) }
        }
    }

    /// Runs `body` with a pooled connection, outside a transaction (each statement commits alone).
    func withConnection<Value: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Value
    ) async throws(StoreError) -> Value {
        let (client, logger) = (self.client, self.logger)
        return try await run(what) {
            try await client.withConnection { connection in try await body(connection, logger) }
        }
    }

    /// ``withConnection(_:_:)`` even while the node believes the database unreachable: for the
    /// feed's backstop poll, which is how it finds out that it is back.
    func probe<Value: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Value
    ) async throws(StoreError) -> Value {
        let (client, logger) = (self.client, self.logger)
        return try await run(what, evenIfDisconnected: true) {
            try await client.withConnection { connection in try await body(connection, logger) }
        }
    }

    private func run<Value: Sendable>(
        _ what: String, evenIfDisconnected: Bool = false, _ body: @escaping @Sendable () async throws -> Value
    ) async throws(StoreError) -> Value {
        guard evenIfDisconnected || health.isConnected else {
            throw StoreError(.disconnected, "cannot \(what): no connection to the fleet database")
        }
        let outcome = await Deadline.race(operationTimeout, body)
        switch outcome {
        case .success(let value):
            return value
        case .failure(let error as StoreError):
            throw error
        case .failure(let error as PostgresTransactionError) where PostgresFailure.underlying(error) is StoreError:
            // A damaged row found inside a transaction (which was rolled back).
            throw PostgresFailure.underlying(error) as? StoreError ?? StoreError("cannot \(what)")
        case .failure(let error):
            throw PostgresFailure.storeError(error, doing: what)
        case nil:
            throw StoreError(.disconnected, "cannot \(what): the fleet database did not answer within \(operationTimeout)")
        }
    }
}

/// Describes PostgreSQL failures without what they might hold of a secret: the server's SQLSTATE
/// and message, never the query's bound values or the connection's password.
enum PostgresFailure {
    static func describe(_ error: any Error) -> String {
        if let error = error as? StoreError { return error.message }
        if let cause = underlying(error) { return describe(cause) }
        guard let error = error as? PSQLError else { return "\(type(of: error))" }
        if let message = error.serverInfo?[.message] {
            let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return message + state
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" + tlsHint("\(underlying)") }
        return "\(error.code)"
    }

    /// What to do when the server's certificate was refused: the raw error names BoringSSL's
    /// routine, not the setting that fixes it.
    static func tlsHint(_ underlying: String) -> String {
        guard underlying.contains("CERTIFICATE_VERIFY_FAILED") || underlying.contains("failedToValidateHostname") else { return "" }
        return " (the database's TLS certificate is not trusted for this host: name its CA with fleet.tls_ca_file, and "
            + "reach the server by a name its certificate holds)"
    }

    /// The error inside a transaction's wrapper: the one that made it fail.
    static func underlying(_ error: any Error) -> (any Error)? {
        guard let error = error as? PostgresTransactionError else { return nil }
        return error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError
    }

    /// Whether `error` says the connection, not the statement, failed.
    static func isConnectionFailure(_ error: any Error) -> Bool {
        if let cause = underlying(error) { return isConnectionFailure(cause) }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed, .sslUnsupported,
            .failedToAddSSLHandler:
            return true
        case .server:
            // Class 08 is connection exceptions; 57P01–57P03 are the server shutting down or starting.
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || state.hasPrefix("57P")
        default:
            return false
        }
    }

    /// Whether `error`, met at start, is one that retrying cannot fix: authentication, an unknown
    /// database or role, a missing privilege, TLS the server does not offer.
    static func isFatalAtStart(_ error: any Error) -> Bool {
        if let cause = underlying(error) { return isFatalAtStart(cause) }
        if let error = error as? StoreError { return error.code == .corruptRow }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .sslUnsupported, .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError: return true
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            // 28: invalid authorization (password, role); 3D000: no such database; 42501: no right.
            return state.hasPrefix("28") || state == "3D000" || state == "42501"
        default: return false
        }
    }

    static func storeError(_ error: any Error, doing what: String) -> StoreError {
        StoreError(isConnectionFailure(error) ? .disconnected : .unavailable, "cannot \(what): \(describe(error))")
    }
}

/// The first of an operation and a timeout. The operation is not waited for once the time is up
/// (a query on a dead connection may take long to fail): it finishes, or fails, on its own.
enum Deadline {
    /// The operation's outcome, or `nil` if `timeout` passed first.
    static func race<Value: Sendable>(
        _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> Value
    ) async -> Result<Value, any Error>? {
        let slot = Shared<CheckedContinuation<Result<Value, any Error>?, Never>?>(nil)
        let resume: @Sendable (Result<Value, any Error>?) -> Void = { outcome in
            slot.value.withLock { continuation in
                continuation?.resume(returning: outcome)
                continuation = nil
            }
        }
        return await withCheckedContinuation { continuation in
            slot.value.withLock { $0 = continuation }
            let work = Shared<Task<Void, Never>?>(nil)
            let timer = Task {
                do { try await Task.sleep(for: timeout) } catch { return }
                resume(nil)
                work.value.withLock { $0?.cancel() }
            }
            work.value.withLock { work in
                work = Task {
                    do { resume(.success(try await operation())) } catch { resume(.failure(error)) }
                    // Done first: the timer has nothing left to do.
                    timer.cancel()
                }
            }
        }
    }
}

/// A value delivered once, awaited by one waiter that may also give up (on cancellation).
final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value?, Never>)
        case done(Value?)
    }
    private let state = Mutex<State>(.empty)

    /// The value, or `nil` if ``abandon()`` came first.
    func wait() async -> Value? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Value?? in
                if case .done(let value) = state { return .some(value) }
                state = .waiting(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Delivers `value` (only the first delivery or abandonment counts).
    func fulfil(_ value: Value) { finish(value) }

    /// Gives up waiting: the waiter gets `nil`.
    func abandon() { finish(nil) }

    private func finish(_ value: Value?) {
        let waiter = state.withLock { state -> CheckedContinuation<Value?, Never>? in
            switch state {
            case .done: return nil
            case .empty:
                state = .done(value)
                return nil
            case .waiting(let continuation):
                state = .done(value)
                return continuation
            }
        }
        waiter?.resume(returning: value)
    }
}

/// A mutex that closures can share.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ initial: Value) { value = Mutex(initial) }
}
