import Synchronization

/// Live counters for `status` and the service status line. Lock-free, because `verify` bumps one on
/// every request.
public final class AuthdCounters: Sendable {
    private let issuedCount = Atomic<Int64>(0)
    private let verifiedCount = Atomic<Int64>(0)
    private let rejectedCount = Atomic<Int64>(0)
    private let connectionCount = Atomic<Int64>(0)
    private let acceptedCount = Atomic<Int64>(0)

    /// Zeroed counters.
    public init() {}

    /// Tokens issued.
    public var issued: Int64 { issuedCount.load(ordering: .relaxed) }
    /// Tokens that passed `verify`.
    public var verified: Int64 { verifiedCount.load(ordering: .relaxed) }
    /// `verify` requests refused.
    public var rejected: Int64 { rejectedCount.load(ordering: .relaxed) }
    /// Connections open now.
    public var connections: Int64 { connectionCount.load(ordering: .relaxed) }

    func recordIssued() { issuedCount.add(1, ordering: .relaxed) }
    func recordVerified() { verifiedCount.add(1, ordering: .relaxed) }
    func recordRejected() { rejectedCount.add(1, ordering: .relaxed) }

    /// Connections accepted since start.
    public var accepted: Int64 { acceptedCount.load(ordering: .relaxed) }

    /// Counts a connection opened.
    public func connectionOpened() {
        acceptedCount.add(1, ordering: .relaxed)
        connectionCount.add(1, ordering: .relaxed)
    }
    /// Counts a connection closed.
    public func connectionClosed() { connectionCount.subtract(1, ordering: .relaxed) }
}
