import NIOCore
import Synchronization

/// Caps on connections, so that one caller cannot take every slot: `total` across all callers,
/// `perUID` for any one uid. root and authd's own user are not counted, so an administrator can
/// always get in.
public struct ConnectionLimits: Sendable, Equatable {
    /// Connections open at once, from all unprivileged callers together.
    public var total: Int
    /// Connections open at once from one uid.
    public var perUID: Int

    /// Limits.
    public init(total: Int = 1024, perUID: Int = 64) {
        self.total = total
        self.perUID = perUID
    }
}

/// The open connections: counted against the limits as they arrive, and asked to finish when a
/// graceful shutdown begins.
///
/// Quiescing closes each connection's input: requests already read are answered, then the
/// connection closes. A connection accepted after quiescing began is closed at once.
final class ConnectionRegistry: Sendable {
    /// The answer to a new connection.
    enum Admission: Equatable {
        case admitted
        /// The server is shutting down.
        case shuttingDown
        /// Over a limit; `firstRefusal` is true when this uid was not refused since it last had a
        /// free slot, so the refusal is logged once, not once per attempt.
        case refused(reason: String, firstRefusal: Bool)
    }

    /// Whom a connection is counted against.
    enum Peer: Equatable {
        /// Not counted (root and authd's own user on the line protocol).
        case privileged
        /// Counted against the total only (the HTTP face: a proxy is one uid with many connections).
        case anyone
        /// Counted against the total and this uid's share.
        case uid(UInt32)
    }

    private struct Entry {
        let channel: any Channel
        let peer: Peer
    }

    private struct Open {
        var channels: [ObjectIdentifier: Entry] = [:]
        var countedTotal = 0
        var perUID: [UInt32: Int] = [:]
        /// Refused since their last connection closed: only their first refusal is logged.
        var refused: Set<Peer.Key> = []
    }

    private enum State {
        case serving(Open)
        case quiescing
    }

    private let limits: ConnectionLimits
    private let state = Mutex(State.serving(Open()))

    init(limits: ConnectionLimits = ConnectionLimits()) {
        self.limits = limits
    }

    /// Admits `channel` from `peer`, or says why not.
    func register(_ channel: any Channel, as peer: Peer) -> Admission {
        let admission = state.withLock { state -> Admission in
            guard case .serving(var open) = state else { return .shuttingDown }
            if let key = peer.key {
                var reason: String?
                if case .uid(let uid) = peer, open.perUID[uid, default: 0] >= limits.perUID {
                    reason = "uid \(uid) already has \(open.perUID[uid, default: 0]) connections (limit \(limits.perUID))"
                } else if open.countedTotal >= limits.total {
                    reason = "authd already has \(open.countedTotal) connections (limit \(limits.total))"
                }
                if let reason {
                    let first = open.refused.insert(key).inserted
                    state = .serving(open)
                    return .refused(reason: reason, firstRefusal: first)
                }
                if case .uid(let uid) = peer { open.perUID[uid, default: 0] += 1 }
                open.countedTotal += 1
            }
            open.channels[ObjectIdentifier(channel)] = Entry(channel: channel, peer: peer)
            state = .serving(open)
            return .admitted
        }
        if admission == .shuttingDown { channel.close(mode: .input, promise: nil) }
        return admission
    }

    /// Removes a connection that has ended.
    func unregister(_ channel: any Channel) {
        state.withLock { state in
            guard case .serving(var open) = state,
                let entry = open.channels.removeValue(forKey: ObjectIdentifier(channel))
            else { return }
            if let key = entry.peer.key {
                if case .uid(let uid) = entry.peer {
                    let remaining = open.perUID[uid, default: 1] - 1
                    open.perUID[uid] = remaining > 0 ? remaining : nil
                }
                open.countedTotal -= 1
                open.refused.remove(key)
            }
            state = .serving(open)
        }
    }

    /// Stops taking connections and asks every open one to finish what it has read.
    func quiesce() {
        let channels = state.withLock { state -> [any Channel] in
            guard case .serving(let open) = state else { return [] }
            state = .quiescing
            return open.channels.values.map(\.channel)
        }
        for channel in channels { channel.close(mode: .input, promise: nil) }
    }
}

extension ConnectionRegistry.Peer {
    /// Who is counted: `nil` for the privileged, who are not.
    struct Key: Hashable {
        let uid: UInt32?
    }

    var key: Key? {
        switch self {
        case .privileged: nil
        case .anyone: Key(uid: nil)
        case .uid(let uid): Key(uid: uid)
        }
    }
}
