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

    /// The socket systemd passed, or `nil` if authd was not socket-activated.
    ///
    /// The `LISTEN_*` variables are removed from the environment so that nothing authd starts
    /// inherits them. With several sockets, the one named `authd` (or `authd.socket`) is used and
    /// the others are closed. The socket must be a listening `AF_UNIX` stream socket.
    public static func inherited() throws(Refusal) -> ListenedSocket? {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count >= 0 else { throw Refusal(description: "sd_listen_fds failed: \(String(cString: strerror(-count)))") }
        defer {
            if let names {
                for index in 0..<Int(count) { free(names[index]) }
                free(names)
            }
        }
        guard count > 0 else { return nil }
        let first = csystemd_listen_fds_start()
        var sockets: [ListenedSocket] = []
        for index in 0..<Int(count) {
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            sockets.append(ListenedSocket(descriptor: first + Int32(index), name: name))
        }
        let chosen: ListenedSocket
        if sockets.count == 1 {
            chosen = sockets[0]
        } else if let named = sockets.first(where: { acceptedNames.contains($0.name) }) {
            chosen = named
        } else {
            throw Refusal(
                description: "systemd passed \(sockets.count) sockets (\(sockets.map(\.name).joined(separator: ", "))) and none is named authd")
        }
        for socket in sockets where socket.descriptor != chosen.descriptor { close(socket.descriptor) }
        guard sd_is_socket_unix(chosen.descriptor, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 else {
            throw Refusal(description: "the socket systemd passed (\(chosen.name)) is not a listening AF_UNIX stream socket")
        }
        return chosen
    }
}
