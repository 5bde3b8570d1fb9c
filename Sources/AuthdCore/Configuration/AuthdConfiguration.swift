#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How tokens are minted and checked: the `[tokens]` table of `authd.toml`.
public struct TokenConfiguration: Sendable, Equatable {
    /// The `iss` of every token, and the only issuer `verify` accepts.
    public var issuer = "authd"
    /// The `aud` of tokens issued without one, and the audience `verify` requires when the caller names none.
    public var audience = "local"
    /// The signing algorithm of new keys.
    public var algorithm: SigningAlgorithm = .edDSA
    /// For HS256: a file (mode 0600) holding the shared secret, at least 32 bytes.
    public var hmacSecretFile: String?
    /// Lifetime of a token issued without `ttl`, in seconds.
    public var ttl: Int64 = 900
    /// The longest lifetime a caller may ask for, in seconds.
    public var maximumTTL: Int64 = 3600
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (at most 60).
    public var leeway: Int64 = 30
    /// How long a signing key signs before a new one replaces it, in seconds.
    public var keyRotationInterval: Int64 = 86_400
    /// How long a refresh token stays usable, in seconds; each refresh issues a fresh one.
    public var refreshTTL: Int64 = 28_800
    /// Verified tokens remembered so that verifying one again skips its signature check; 0 turns
    /// the cache off. Expiry, revocation, audience and roles are still checked every time.
    public var verifyCacheEntries = 16_384
    /// Bounds on caller-chosen fields: the `[limits]` table.
    public var limits = RequestLimits()

    /// The defaults.
    public init() {}
}

/// The daemon's listener: the `[server]` table.
public struct ServerConfiguration: Sendable, Equatable {
    /// Where the Unix socket is bound when authd binds it itself.
    public var socketPath = "/run/authd/authd.sock"
    /// The longest request line accepted, in bytes (without its newline).
    public var maximumLineLength = 65_536
    /// Exit after this many seconds without connections (for socket activation); 0 never exits.
    public var exitIdleAfter: Int64 = 0
    /// The mode of a socket file authd binds itself (systemd's `SocketMode=` applies otherwise).
    public var socketMode: UInt32 = 0o660
    /// Connections open at once from all unprivileged callers (root and authd's user are not counted).
    public var maximumConnections = 1024
    /// Connections open at once from one unprivileged uid.
    public var maximumConnectionsPerUID = 64
    /// Seconds a connection may stay silent before it is closed; 0 never closes it.
    public var idleTimeout: Int64 = 600
    /// Seconds within which a request line, once begun, must be finished; 0 waits forever.
    public var lineTimeout: Int64 = 10
    /// Reply bytes queued for a client that does not read, before authd stops reading its requests.
    public var maximumPendingReplyBytes = 65_536

    /// The defaults.
    public init() {}
}

/// Where logs go and how much: the `[log]` table.
public struct LogConfiguration: Sendable, Equatable {
    /// The log destination.
    public enum Target: String, Sendable, Equatable, CaseIterable {
        /// The journal when standard error is connected to it (`JOURNAL_STREAM`), else standard error.
        case auto
        /// Always the journal, natively.
        case journal
        /// Always standard error, as text.
        case stderr
    }

    /// Where logs go.
    public var target: Target = .auto
    /// The lowest level logged: trace, debug, info, notice, warning, error or critical.
    public var level = "info"

    /// The defaults.
    public init() {}
}

/// Everything `authd.toml` can set. Every key has a default, so an empty or missing file is valid.
public struct AuthdConfiguration: Sendable, Equatable {
    /// Token settings.
    public var tokens = TokenConfiguration()
    /// Listener settings.
    public var server = ServerConfiguration()
    /// Logging settings.
    public var log = LogConfiguration()
    /// Who may issue, revoke and administer.
    public var policy = Policy()
    /// Password logins.
    public var users = AccountConfiguration()
    /// Where keys and the database (a fleet node's local cache) live: `[state] directory`.
    public var stateDirectory = "/var/lib/authd"
    /// The shared PostgreSQL database of a fleet; `nil` (no `[fleet]` table) is single-host, on SQLite.
    public var fleet: FleetConfiguration?
    /// The HTTP face (forward-auth, JWKS, metrics, health): `[http]`.
    public var http = HTTPConfiguration()

    /// The defaults.
    public init() {}

    /// Parses and validates a configuration file's text.
    public init(toml text: String) throws(StartupError) {
        let document: TOMLTable
        do {
            document = try TOMLDocument.parse(text)
        } catch {
            throw StartupError("invalid configuration: \(error)")
        }
        var root = ConfigTableReader(document, prefix: "")
        var tokensTable = try root.table("tokens")
        var serverTable = try root.table("server")
        var stateTable = try root.table("state")
        var logTable = try root.table("log")
        var policyTable = try root.table("policy")
        var usersTable = try root.table("users")
        var limitsTable = try root.table("limits")
        let hasFleet = root.raw("fleet") != nil
        var fleetTable = try root.table("fleet")
        var httpTable = try root.table("http")
        try root.finish()

        var tokens = TokenConfiguration()
        tokens.issuer = try tokensTable.string("issuer", default: tokens.issuer)
        tokens.audience = try tokensTable.string("audience", default: tokens.audience)
        let algorithmName = try tokensTable.string("algorithm", default: tokens.algorithm.name)
        guard let algorithm = SigningAlgorithm(name: algorithmName) else {
            throw tokensTable.invalid("algorithm", "'\(algorithmName)' is not one of EdDSA, ES256, HS256")
        }
        tokens.algorithm = algorithm
        tokens.hmacSecretFile = try tokensTable.optionalString("hmac_secret_file")
        tokens.maximumTTL = try tokensTable.duration("max_ttl", default: tokens.maximumTTL, in: 1...86_400)
        tokens.ttl = try tokensTable.duration("ttl", default: min(tokens.ttl, tokens.maximumTTL), in: 1...86_400)
        tokens.leeway = try tokensTable.duration("leeway", default: tokens.leeway, in: 0...60)
        tokens.keyRotationInterval = try tokensTable.duration(
            "key_rotation_interval", default: tokens.keyRotationInterval, in: 60...31_536_000)
        tokens.refreshTTL = try tokensTable.duration("refresh_ttl", default: tokens.refreshTTL, in: 60...2_592_000)
        tokens.verifyCacheEntries = Int(
            try tokensTable.integer("verify_cache_entries", default: Int64(tokens.verifyCacheEntries), in: 0...1_048_576))
        guard tokens.ttl <= tokens.maximumTTL else {
            throw tokensTable.invalid("ttl", "\(tokens.ttl) s exceeds tokens.max_ttl (\(tokens.maximumTTL) s)")
        }
        guard !tokens.issuer.isEmpty else { throw tokensTable.invalid("issuer", "must not be empty") }
        guard !tokens.audience.isEmpty else { throw tokensTable.invalid("audience", "must not be empty") }
        if tokens.algorithm == .hs256, tokens.hmacSecretFile == nil {
            throw tokensTable.invalid("hmac_secret_file", "is required when tokens.algorithm is HS256")
        }
        try tokensTable.finish()

        var server = ServerConfiguration()
        server.socketPath = try serverTable.string("socket", default: server.socketPath)
        server.maximumLineLength = Int(
            try serverTable.integer("max_line_bytes", default: Int64(server.maximumLineLength), in: 1024...16_777_216))
        server.exitIdleAfter = try serverTable.duration("exit_idle_after", default: 0, in: 0...31_536_000)
        if let modeText = try serverTable.optionalString("socket_mode") {
            guard let mode = UInt32(modeText, radix: 8), mode <= 0o777, mode & 0o111 == 0 else {
                throw serverTable.invalid("socket_mode", "'\(modeText)' is not an octal mode such as \"0660\"")
            }
            server.socketMode = mode
        }
        server.maximumConnections = Int(
            try serverTable.integer("max_connections", default: Int64(server.maximumConnections), in: 1...1_000_000))
        server.maximumConnectionsPerUID = Int(
            try serverTable.integer(
                "max_connections_per_uid", default: Int64(server.maximumConnectionsPerUID), in: 1...1_000_000))
        server.idleTimeout = try serverTable.duration("idle_timeout", default: server.idleTimeout, in: 0...31_536_000)
        server.lineTimeout = try serverTable.duration("line_timeout", default: server.lineTimeout, in: 0...3600)
        server.maximumPendingReplyBytes = Int(
            try serverTable.integer(
                "max_pending_reply_bytes", default: Int64(server.maximumPendingReplyBytes), in: 4096...67_108_864))
        try serverTable.finish()

        var log = LogConfiguration()
        let targetName = try logTable.string("target", default: log.target.rawValue)
        guard let target = LogConfiguration.Target(rawValue: targetName) else {
            throw logTable.invalid("target", "'\(targetName)' is not one of auto, journal, stderr")
        }
        log.target = target
        log.level = try logTable.string("level", default: log.level)
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        guard levels.contains(log.level) else {
            throw logTable.invalid("level", "'\(log.level)' is not one of \(levels.joined(separator: ", "))")
        }
        try logTable.finish()
        self.log = log
        self.policy = try Self.policy(from: &policyTable)
        self.users = try AccountConfiguration(table: &usersTable)

        tokens.limits = try RequestLimits(table: &limitsTable)
        self.tokens = tokens
        self.server = server
        self.stateDirectory = try stateTable.string("directory", default: stateDirectory)
        try stateTable.finish()
        self.fleet = hasFleet ? try FleetConfiguration(table: &fleetTable) : nil
        self.http = try HTTPConfiguration(table: &httpTable)
    }

    private static func policy(from table: inout ConfigTableReader) throws(StartupError) -> Policy {
        var grants: [Policy.Grant] = []
        for var grant in try table.tables("grant") {
            let uid = grant.raw("uid")
            let user = try grant.optionalString("user")
            let group = try grant.optionalString("group")
            let principal: Policy.Grant.Principal
            switch (uid, user, group) {
            case (.integer(let number)?, nil, nil):
                guard let value = UInt32(exactly: number) else { throw grant.invalid("uid", "\(number) is not a uid") }
                principal = .uid(value)
            case (nil, let name?, nil):
                guard let value = UserDatabase.uid(ofUser: name) else { throw grant.invalid("user", "no user named '\(name)'") }
                principal = .uid(value)
            case (nil, nil, let name?):
                guard let value = UserDatabase.gid(ofGroup: name) else { throw grant.invalid("group", "no group named '\(name)'") }
                principal = .gid(value)
            default:
                throw grant.invalid("uid", "give exactly one of uid (an integer), user or group")
            }
            let ops = try grant.optionalStrings("ops") ?? []
            guard !ops.isEmpty else { throw grant.invalid("ops", "must name at least one op") }
            for op in ops where !Policy.grantableOps.contains(op) {
                throw grant.invalid("ops", "unknown op '\(op)' (grantable: issue, revoke, admin, *)")
            }
            let roles = try grant.optionalStrings("roles")
            let subjects = try grant.optionalStrings("subjects")
            let audiences = try grant.optionalStrings("audiences")
            try grant.finish()
            grants.append(
                Policy.Grant(
                    principal: principal, ops: Set(ops), roles: roles.map { Set($0) }, subjects: subjects,
                    audiences: audiences.map { Set($0) }))
        }
        try table.finish()
        return Policy(grants: grants)
    }

    /// Reads the configuration from `path`. A missing file gives the defaults only when
    /// `mustExist` is false (the default path); a file named explicitly must exist.
    public static func load(path: String, mustExist: Bool) throws(StartupError) -> AuthdConfiguration {
        guard access(path, F_OK) == 0 else {
            if mustExist { throw StartupError("configuration file \(path) does not exist") }
            return AuthdConfiguration()
        }
        guard let file = fopen(path, "r") else {
            throw StartupError("cannot read configuration file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= 1 << 20 else { throw StartupError("configuration file \(path) is larger than 1 MiB") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw StartupError("configuration file \(path) is not valid UTF-8")
        }
        do {
            return try AuthdConfiguration(toml: text)
        } catch {
            throw StartupError("\(path): \(error.message)")
        }
    }
}
