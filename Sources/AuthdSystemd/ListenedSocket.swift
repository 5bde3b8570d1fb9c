import CSystemd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A listening socket handed over by systemd (socket activation, `sd_listen_fds(3)`).
public struct ListenedSocket: Sendable {
    /// The file descriptor.
    public let descriptor: Int32
    /// Its name from `LISTEN_FDNAMES` (`FileDescriptorName=`, by default the socket unit's name).
    public let name: String

    /// Why an inherited socket was refused.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        /// What is wrong.
        public let description: String
    }

    /// The names authd answers to when systemd passes several sockets.
    public static let acceptedNames: Set<String> = ["authd", "authd.socket"]
    /// The names of the HTTP face's socket (`FileDescriptorName=http` in `authd-http.socket`).
    public static let httpNames: Set<String> = ["http", "authd-http.socket"]

    /// The sockets systemd passed: the line protocol's and the HTTP face's.
    public struct Inherited: Sendable {
        /// The line protocol's socket, `nil` when systemd passed none.
        public var main: ListenedSocket?
        /// The HTTP face's socket, `nil` when systemd passed none.
        public var http: ListenedSocket?
    }

    /// The sockets systemd passed; both `nil` if authd was not socket-activated.
    ///
    /// The `LISTEN_*` variables are removed from the environment so that nothing authd starts
    /// inherits them. The socket named `http` (or `authd-http.socket`) is the HTTP face's: a
    /// listening stream socket, Unix or TCP. Of the others, the one named `authd` (or
    /// `authd.socket`) is the line protocol's, or the only one if there is one; it must be a
    /// listening `AF_UNIX` stream socket. Any other socket is closed.
    public static func inherited() throws(Refusal) -> Inherited {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count >= 0 else { throw Refusal(description: "sd_listen_fds failed: \(String(cString: strerror(-count)))") }
        defer {
            if let names {
                for index in 0..<Int(count) { free(names[index]) }
                free(names)
            }
        }
        guard count > 0 else { return Inherited() }
        let first = csystemd_listen_fds_start()
        var sockets: [ListenedSocket] = []
        for index in 0..<Int(count) {
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            sockets.append(ListenedSocket(descriptor: first + Int32(index), name: name))
        }
        let http = sockets.first { httpNames.contains($0.name) }
        let others = sockets.filter { !httpNames.contains($0.name) }
        let main: ListenedSocket?
        if others.count <= 1 {
            main = others.first
        } else if let named = others.first(where: { acceptedNames.contains($0.name) }) {
            main = named
        } else {
            throw Refusal(
                description: "systemd passed \(sockets.count) sockets (\(sockets.map(\.name).joined(separator: ", "))) and none is named authd")
        }
        for socket in sockets where socket.descriptor != main?.descriptor && socket.descriptor != http?.descriptor {
            close(socket.descriptor)
        }
        if let main, sd_is_socket_unix(main.descriptor, Int32(SOCK_STREAM.rawValue), 1, nil, 0) <= 0 {
            throw Refusal(description: "the socket systemd passed (\(main.name)) is not a listening AF_UNIX stream socket")
        }
        if let http, sd_is_socket(http.descriptor, AF_UNSPEC, Int32(SOCK_STREAM.rawValue), 1) <= 0 {
            throw Refusal(description: "the socket systemd passed for HTTP (\(http.name)) is not a listening stream socket")
        }
        return Inherited(main: main, http: http)
    }
}
