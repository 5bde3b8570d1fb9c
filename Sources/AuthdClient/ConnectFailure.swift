#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import AuthdProtocol
import NIOCore

/// Why connecting to the daemon's socket failed, in words a person can act on: what happened and
/// what to do, instead of the system call's description.
enum ConnectFailure {
    static func error(_ underlying: any Error, socketPath path: String) -> AuthdError {
        AuthdError(.daemonUnreachable, message(underlying, socketPath: path))
    }

    static func message(_ underlying: any Error, socketPath path: String) -> String {
        guard let errno = (underlying as? IOError)?.errnoCode else {
            return "cannot connect to authd at \(path): \(underlying)"
        }
        switch errno {
        case ENOENT:
            return "authd is not running: there is no socket at \(path). Start it with "
                + "'systemctl start authd.socket' (the installed package), or 'make run' in a source tree; "
                + "if it listens elsewhere, point the client at that socket (authctl: --socket, or AUTHD_SOCKET)"
        case ECONNREFUSED:
            return "authd is not running: nothing listens on \(path) (a socket left behind by a daemon that "
                + "stopped). Start it with 'systemctl start authd.socket', or 'make run' in a source tree"
        case EACCES, EPERM:
            return "permission denied on \(path): this user may not connect to authd. Services and people "
                + "that may talk to it are in the authd-clients group ('usermod -aG authd-clients USER', "
                + "then log in again)"
        default:
            return "cannot connect to authd at \(path): \(String(cString: strerror(errno)))"
        }
    }
}
