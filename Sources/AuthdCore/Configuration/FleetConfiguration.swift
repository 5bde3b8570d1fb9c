#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A fleet of authd nodes sharing one PostgreSQL database: the `[fleet]` table of `authd.toml`.
///
/// Without the table authd is single-host, on SQLite. The database password is never part of this
/// value: it is read at start from ``passwordFile`` or the systemd credential `authd-db-password`,
/// so that `authd.toml` may stay world-readable.
public struct FleetConfiguration: Sendable, Equatable {
    /// Where PostgreSQL listens.
    public enum Endpoint: Sendable, Equatable {
        /// A TCP host (a name or an IP address) and port.
        case tcp(host: String, port: Int)
        /// A Unix socket: `directory/.s.PGSQL.port`, as libpq names it.
        case unixSocket(directory: String, port: Int)

        /// The socket file of a Unix-socket endpoint.
        public var socketPath: String? {
            guard case .unixSocket(let directory, let port) = self else { return nil }
            return "\(directory)/.s.PGSQL.\(port)"
        }

        /// Whether the database is on this host (a Unix socket or a loopback address), where TLS
        /// protects nothing that the kernel does not already.
        public var isLocal: Bool {
            switch self {
            case .unixSocket: return true
            case .tcp(let host, _): return host == "localhost" || host == "::1" || host.hasPrefix("127.")
            }
        }
    }

    /// Whether the connection to PostgreSQL is encrypted.
    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        /// Never: only for a Unix socket or loopback.
        case disable
        /// When the server offers it; its certificate is verified only when `tls_ca_file` names a
        /// CA (as libpq's `sslmode=prefer`, it protects from eavesdropping, not from an impostor).
        case prefer
        /// Always, with the server's certificate verified against the system's (or `tls_ca_file`'s) CAs.
        case require
    }

    /// What a node does with other nodes' tokens once its view of the fleet is older than ``maximumStaleness``.
    public enum StalePolicy: String, Sendable, Equatable, CaseIterable {
        /// Keep verifying them against the revocations it has (available, possibly stale).
        case serve
        /// Refuse them (`fleet_unavailable`) until it has caught up; its own tokens still verify.
        case refuse
    }

    /// Where PostgreSQL listens.
    public var endpoint: Endpoint
    /// The database role.
    public var user: String
    /// The database name.
    public var database: String
    /// A file (mode 0600, owned by authd) holding the role's password; `nil` uses the systemd
    /// credential `authd-db-password` if there is one, else no password.
    public var passwordFile: String?
    /// This node's name, unique in the fleet: it marks the keys and revocations the node publishes.
    public var node: String
    /// Encryption of the database connection.
    public var tls: TLSMode
    /// PEM file of the CAs that may sign the server's certificate; `nil` uses the system's.
    public var tlsCAFile: String?
    /// How far behind the fleet a node may fall (no contact with the database) before ``onStale`` applies, seconds.
    public var maximumStaleness: Int64 = 60
    /// What a stale node does with other nodes' tokens.
    public var onStale: StalePolicy = .serve
    /// Pooled connections for requests (the listening connection is extra).
    public var poolSize = 4

    /// A fleet on `endpoint`, with the defaults for everything else.
    public init(endpoint: Endpoint, user: String, database: String, node: String, tls: TLSMode? = nil) {
        self.endpoint = endpoint
        self.user = user
        self.database = database
        self.node = node
        self.tls = tls ?? (endpoint.isLocal ? (endpoint.socketPath == nil ? .prefer : .disable) : .require)
    }

    init(table: inout ConfigTableReader) throws(StartupError) {
        guard let url = try table.optionalString("database") else {
            throw table.invalid("database", "is required: a postgresql:// URL such as \"postgresql://authd@db.example:5432/authd\"")
        }
        let parsed: DatabaseURL
        do {
            parsed = try DatabaseURL(url)
        } catch {
            throw table.invalid("database", error.reason)
        }
        let node = try table.optionalString("node") ?? Self.hostName()
        guard Self.isValidNodeName(node) else {
            throw table.invalid("node", "'\(node)' is not a node name: 1 to 64 letters, digits, '.', '_' or '-'")
        }
        var tls: TLSMode?
        if let name = try table.optionalString("tls") {
            guard let mode = TLSMode(rawValue: name) else {
                throw table.invalid("tls", "'\(name)' is not one of disable, prefer, require")
            }
            tls = mode
        }
        self.init(endpoint: parsed.endpoint, user: parsed.user, database: parsed.database, node: node, tls: tls)
        if parsed.endpoint.socketPath != nil, self.tls != .disable {
            throw table.invalid("tls", "must be \"disable\" for a Unix socket (the kernel carries the connection)")
        }
        passwordFile = try table.optionalString("password_file")
        tlsCAFile = try table.optionalString("tls_ca_file")
        if tlsCAFile != nil, self.tls == .disable { throw table.invalid("tls_ca_file", "is set but tls is \"disable\"") }
        maximumStaleness = try table.duration("max_staleness", default: maximumStaleness, in: 1...86_400)
        let staleName = try table.string("on_stale", default: onStale.rawValue)
        guard let stale = StalePolicy(rawValue: staleName) else {
            throw table.invalid("on_stale", "'\(staleName)' is not one of serve, refuse")
        }
        onStale = stale
        poolSize = Int(try table.integer("pool_size", default: Int64(poolSize), in: 1...32))
        try table.finish()
    }

    static func isValidNodeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x2E || byte == 0x5F
                    || byte == 0x2D
            }
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A libpq-style connection URL: `postgresql://user@host:port/database?host=/run/postgresql`.
///
/// A password in the URL is refused: the configuration file is usually world-readable, and the
/// password belongs in a 0600 file or a systemd credential. No error message repeats the URL, so a
/// password typed into it by mistake never reaches a log.
struct DatabaseURL {
    struct Invalid: Error {
        let reason: String
    }

    var endpoint: FleetConfiguration.Endpoint
    var user: String
    var database: String

    init(_ url: String) throws(Invalid) {
        var rest: Substring
        if url.hasPrefix("postgresql://") {
            rest = url.dropFirst("postgresql://".count)
        } else if url.hasPrefix("postgres://") {
            rest = url.dropFirst("postgres://".count)
        } else {
            throw Invalid(reason: "must start with postgresql://")
        }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        guard let at = rest.lastIndex(of: "@") else {
            throw Invalid(reason: "names no user: write postgresql://USER@HOST/DATABASE")
        }
        let userInfo = rest[..<at]
        var hostPort = rest[rest.index(after: at)...]
        guard !userInfo.contains(":") else {
            throw Invalid(reason: "holds a password: put it in fleet.password_file (mode 0600) or the credential authd-db-password instead")
        }
        guard let user = Self.percentDecoded(userInfo), !user.isEmpty else { throw Invalid(reason: "names no user") }
        guard let database = Self.percentDecoded(path) else { throw Invalid(reason: "has a malformed database name") }
        var host = ""
        var port = 5432
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw Invalid(reason: "has an unterminated [IPv6 address]") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            hostPort = hostPort[hostPort.index(after: close)...]
            if !hostPort.isEmpty {
                guard hostPort.hasPrefix(":") else { throw Invalid(reason: "has text after the [IPv6 address]") }
                port = try Self.port(hostPort.dropFirst())
            }
        } else if let colon = hostPort.firstIndex(of: ":") {
            host = String(hostPort[..<colon])
            port = try Self.port(hostPort[hostPort.index(after: colon)...])
        } else {
            host = String(hostPort)
        }
        var socketDirectory: String?
        for parameter in query.split(separator: "&") where !parameter.isEmpty {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2, let value = Self.percentDecoded(pair[1]) else {
                throw Invalid(reason: "has a malformed query parameter")
            }
            switch pair[0] {
            case "host":
                guard value.hasPrefix("/") else { throw Invalid(reason: "?host= must be the absolute path of a socket directory") }
                socketDirectory = value
            default:
                throw Invalid(reason: "has the unknown parameter '\(pair[0].prefix(32))' (only ?host=/socket/directory; TLS is fleet.tls)")
            }
        }
        if let socketDirectory {
            endpoint = .unixSocket(directory: socketDirectory, port: port)
        } else {
            guard !host.isEmpty else { throw Invalid(reason: "names no host (or ?host=/socket/directory for a Unix socket)") }
            endpoint = .tcp(host: host, port: port)
        }
        self.user = user
        self.database = database.isEmpty ? user : database
    }

    private static func port(_ text: Substring) throws(Invalid) -> Int {
        guard let port = Int(text), (1...65_535).contains(port) else { throw Invalid(reason: "has a port that is not 1 to 65535") }
        return port
    }

    private static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self), !decoded.utf8.contains(where: { $0 < 0x20 }) else { return nil }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
