import AuthdCore
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The peer's uid, gid and pid, from `SO_PEERCRED`: what the kernel recorded when the peer
/// connected, which the peer cannot forge.
struct PeerCredentials: Sendable {
    let uid: UInt32
    let gid: UInt32
    let pid: Int32

    /// Reads the credentials of an accepted Unix-socket connection.
    static func read(from channel: any Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let credentials: EventLoopFuture<KernelUCred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.map { PeerCredentials(uid: $0.uid, gid: $0.gid, pid: $0.pid) }
    }
}

/// Laid out exactly like Linux's `struct ucred` (pid, uid, gid), which Glibc's module map does not
/// export without `_GNU_SOURCE`.
struct KernelUCred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

extension Caller {
    /// The daemon itself, for internal probes.
    static var daemon: Caller { Caller(uid: UInt32(geteuid()), gid: UInt32(getegid()), pid: getpid()) }
}
