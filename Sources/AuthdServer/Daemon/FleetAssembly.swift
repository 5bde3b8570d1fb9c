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

/// A fleet node's store and the services that keep it: the PostgreSQL pool, the revocation feed
/// and the key service.
struct FleetAssembly {
    let store: FleetStore
    let keyService: FleetKeyService
    let services: [any Service]

    /// Opens the local cache and loads `denylist` from it, reads the password, and checks the
    /// database once: a wrong password, an unknown database or role, or a schema from a newer
    /// authd refuses to start. A database that cannot be reached does not: the node starts on its
    /// local cache and catches up later. When it can be reached, the node's keys are published
    /// (and the others' read) before it serves, so its first token verifies everywhere.
    static func assemble(
        _ fleet: FleetConfiguration, stateDirectory: String, health: FleetHealth, tokens: CurrentTokens, denylist: Denylist,
        clock: any UnixClock, logger: Logger
    ) async throws(StartupError) -> FleetAssembly {
        let password = try readPassword(fleet)
        let local: SQLiteStore
        let applied: (revocations: RevocationSnapshot, sequence: Int64)
        do throws(StoreError) {
            local = try SQLiteStore(stateDirectory: stateDirectory)
            applied = try await local.appliedState(now: clock.now())
            if let fleetKeys = tokens.service.fleet {
                fleetKeys.markPublished(try await local.publishedKeyIDs())
                // Other nodes' keys as last seen, so that their tokens verify even if the database
                // is down now; replaced as soon as it answers.
                fleetKeys.installPeers(try await local.cachedPeerKeys(), ownKeyIDs: Set(tokens.service.keyIDs))
            }
        } catch {
            throw StartupError("cannot open the fleet node's local cache: \(error.message)")
        }
        denylist.load(applied.revocations)
        health.restore(appliedSequence: applied.sequence)
        let database = try FleetDatabase(configuration: fleet, password: password, health: health, logger: logger)
        let store = FleetStore(database: database, local: local, clock: clock, logger: logger)
        let keyService = FleetKeyService(database: database, local: local, tokens: { tokens.service }, clock: clock, logger: logger)
        if let keys = try await database.prepare(publishing: tokens.service.publishedKeys(node: fleet.node), now: clock.now()) {
            await keyService.started(with: keys)
        }
        return FleetAssembly(
            store: store, keyService: keyService,
            services: [database.client, FleetFeed(store: store, denylist: denylist, logger: logger), keyService])
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
