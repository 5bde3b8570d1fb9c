public import AuthdCore
import Synchronization

/// The token service in force. A reload (SIGHUP) swaps in a new one built from the new
/// configuration; requests already running finish with the one they started with.
public final class CurrentTokens: Sendable {
    private let current: Mutex<TokenService>

    /// Starts with `service`.
    public init(_ service: TokenService) { current = Mutex(service) }

    /// The service to use for the next request.
    public var service: TokenService { current.withLock { $0 } }

    /// Makes `service` the one in force.
    public func replace(with service: TokenService) { current.withLock { $0 = service } }
}
