import NIOCore
import Synchronization

/// The open connections, so that a graceful shutdown can ask each to finish.
///
/// Quiescing closes each connection's input: requests already read are answered, then the
/// connection closes. A connection accepted after quiescing began is closed at once.
final class ConnectionRegistry: Sendable {
    private enum State {
        case serving([ObjectIdentifier: any Channel])
        case quiescing
    }

    private let state = Mutex(State.serving([:]))

    /// Adds a connection; returns `false` (and closes its input) when the server is shutting down.
    func register(_ channel: any Channel) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard case .serving(var channels) = state else { return false }
            channels[ObjectIdentifier(channel)] = channel
            state = .serving(channels)
            return true
        }
        if !accepted { channel.close(mode: .input, promise: nil) }
        return accepted
    }

    /// Removes a connection that has ended.
    func unregister(_ channel: any Channel) {
        state.withLock { state in
            guard case .serving(var channels) = state else { return }
            channels[ObjectIdentifier(channel)] = nil
            state = .serving(channels)
        }
    }

    /// Stops taking connections and asks every open one to finish what it has read.
    func quiesce() {
        let channels = state.withLock { state -> [any Channel] in
            guard case .serving(let channels) = state else { return [] }
            state = .quiescing
            return Array(channels.values)
        }
        for channel in channels { channel.close(mode: .input, promise: nil) }
    }
}
