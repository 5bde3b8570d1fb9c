/// Where the server listens.
///
/// A value type over an internal enum, so that new kinds of listener can be added without
/// breaking callers.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        case path(String)
        case inherited(descriptor: Int32, name: String)
        case tcp(host: String, port: Int)
    }

    let kind: Kind

    /// Bind a Unix socket at `path`, replacing a stale socket file but never a live one.
    public static func unixDomainSocket(path: String) -> ListenAddress { ListenAddress(kind: .path(path)) }

    /// Serve an already bound and listening socket, such as one passed by systemd.
    public static func inheritedSocket(descriptor: Int32, name: String) -> ListenAddress {
        ListenAddress(kind: .inherited(descriptor: descriptor, name: name))
    }

    /// Bind a TCP address (the HTTP face's loopback listener; the line protocol is Unix-only).
    public static func tcp(host: String, port: Int) -> ListenAddress { ListenAddress(kind: .tcp(host: host, port: port)) }

    public var description: String {
        switch kind {
        case .path(let path): path
        case .inherited(let descriptor, let name): "inherited fd \(descriptor) (\(name))"
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}
