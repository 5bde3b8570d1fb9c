import AuthdCore
import AuthdPostgresStore
import AuthdSQLiteStore
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A fleet node's store and the services that keep it: the PostgreSQL pool and the revocation feed.
struct FleetAssembly {
    let store: FleetStore
    let health: FleetHealth
    let snapshot: RevocationSnapshot
    let services: [any Service]

    /// Opens the local cache, reads the password, and checks the database once: a wrong password,
    /// an unknown database or role, or a schema from a newer authd refuses to start. A database
    /// that cannot be reached does not: the node starts on its local cache and catches up later.
    static func assemble(
        _ fleet: FleetConfiguration, stateDirectory: String, denylist: Denylist, clock: any UnixClock, logger: Logger
    ) async throws(StartupError) -> FleetAssembly {
        let password = try readPassword(fleet)
        let local: SQLiteStore
        let applied: (revocations: RevocationSnapshot, sequence: Int64)
        do throws(StoreError) {
            local = try SQLiteStore(stateDirectory: stateDirectory)
            applied = try await local.appliedState(now: clock.now())
        } catch {
            throw StartupError("cannot open the fleet node's local cache: \(error.message)")
        }
        let health = FleetHealth(configuration: fleet, appliedSequence: applied.sequence, clock: clock)
        let database = try FleetDatabase(configuration: fleet, password: password, health: health, logger: logger)
        try await database.prepare()
        let store = FleetStore(database: database, local: local, clock: clock, logger: logger)
        return FleetAssembly(
            store: store, health: health, snapshot: applied.revocations,
            services: [database.client, FleetFeed(store: store, denylist: denylist, logger: logger)])
    }

    /// The password from `fleet.password_file`, else the systemd credential `authd-db-password`,
    /// else none (peer or trust authentication). The file must be private to authd.
    static func readPassword(_ fleet: FleetConfiguration) throws(StartupError) -> String? {
        var path = fleet.passwordFile
        if path == nil, let directory = getenv("CREDENTIALS_DIRECTORY").map({ String(cString: $0) }) {
            let credential = directory + "/authd-db-password"
            if access(credential, F_OK) == 0 { path = credential }
        }
        guard let path else { return nil }
        var bytes = try PrivateFiles.readPrivateFile(path, maximumSize: 4096)
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty, let password = String(validating: bytes, as: UTF8.self) else {
            throw StartupError("\(path) holds no password (or one that is not UTF-8)")
        }
        return password
    }
}
