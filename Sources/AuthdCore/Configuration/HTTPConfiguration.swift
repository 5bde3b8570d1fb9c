/// authd's HTTP face: the `[http]` table of `authd.toml`.
///
/// Off unless the table lists addresses or systemd passes a socket named `http`. It serves
/// forward-auth (`/auth`), the public keys (`/.well-known/jwks.json`), metrics and health, and
/// nothing that changes state. Connection limits and timeouts are the `[server]` ones.
public struct HTTPConfiguration: Sendable, Equatable {
    /// Where the HTTP face listens.
    public enum Address: Sendable, Equatable, CustomStringConvertible {
        /// A Unix socket at a path (`unix:/run/authd/http.sock`).
        case unixSocket(path: String)
        /// A loopback TCP address (`127.0.0.1:9180`, `[::1]:9180`).
        case tcp(host: String, port: Int)

        public var description: String {
            switch self {
            case .unixSocket(let path): "unix:\(path)"
            case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            }
        }

        /// Parses `unix:PATH`, `HOST:PORT` or `[V6]:PORT`; `nil` for anything else. Only loopback
        /// addresses are taken: the face answers without authenticating its callers, so the
        /// network sees it only through a proxy an operator put in front of it.
        public init?(_ text: String) {
            if text.hasPrefix("unix:") {
                let path = String(text.dropFirst(5))
                guard path.hasPrefix("/"), !path.contains("\0") else { return nil }
                self = .unixSocket(path: path)
                return
            }
            let host: Substring
            let portText: Substring
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
                host = text[text.index(after: text.startIndex)..<close]
                portText = text[text.index(close, offsetBy: 2)...]
            } else {
                guard let colon = text.lastIndex(of: ":") else { return nil }
                host = text[..<colon]
                portText = text[text.index(after: colon)...]
            }
            guard let port = Int(portText), (1...65535).contains(port), Self.isLoopback(host) else { return nil }
            self = .tcp(host: String(host), port: port)
        }

        private static func isLoopback(_ host: Substring) -> Bool {
            if host == "::1" { return true }
            let parts = host.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "127" else { return false }
            return parts.allSatisfy { part in UInt8(part).map { String($0) == part } ?? false }
        }
    }

    /// The addresses to listen on; empty means none (unless systemd passes a socket named `http`).
    public var listen: [Address] = []
    /// The Unix sockets' mode (as `server.socket_mode`; `0660` lets a proxy's group in).
    public var socketMode: UInt32 = 0o660
    /// The longest request head (request line and headers) accepted, in bytes.
    public var maximumHeaderBytes = 16_384
    /// The longest request body accepted (and discarded: no endpoint reads one), in bytes.
    public var maximumBodyBytes = 16_384

    /// No HTTP face.
    public init() {}

    init(table: inout ConfigTableReader) throws(StartupError) {
        for text in try table.optionalStrings("listen") ?? [] {
            guard let address = Address(text) else {
                throw table.invalid(
                    "listen", "'\(text)' is not unix:/absolute/path or a loopback HOST:PORT (127.0.0.1:9180, [::1]:9180)")
            }
            listen.append(address)
        }
        if let modeText = try table.optionalString("socket_mode") {
            guard let mode = UInt32(modeText, radix: 8), mode <= 0o777, mode & 0o111 == 0 else {
                throw table.invalid("socket_mode", "'\(modeText)' is not an octal mode such as \"0660\"")
            }
            socketMode = mode
        }
        maximumHeaderBytes = Int(try table.integer("max_header_bytes", default: Int64(maximumHeaderBytes), in: 1024...1_048_576))
        maximumBodyBytes = Int(try table.integer("max_body_bytes", default: Int64(maximumBodyBytes), in: 0...1_048_576))
        try table.finish()
    }
}
