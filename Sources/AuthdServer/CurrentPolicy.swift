public import AuthdCore
import Synchronization

/// The caller policy in force; a reload swaps in the new one only if the whole file is valid.
public final class CurrentPolicy: Sendable {
    private let current: Mutex<Policy>

    /// Starts with `policy`.
    public init(_ policy: Policy) { current = Mutex(policy) }

    /// The policy for the next request.
    public var policy: Policy { current.withLock { $0 } }

    /// Makes `policy` the one in force.
    public func replace(with policy: Policy) { current.withLock { $0 = policy } }
}
