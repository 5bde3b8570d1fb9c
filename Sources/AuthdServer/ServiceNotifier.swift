/// Whatever supervises the daemon and wants to hear about its state: systemd's `sd_notify` in
/// production. AuthdServer speaks through this protocol so that it never depends on libsystemd.
public protocol ServiceNotifier: Sendable {
    /// Whether anyone listens; when not, callers skip building messages.
    var isEnabled: Bool { get }
    /// Sends `assignments` such as `READY=1` or `STATUS=…` together.
    func send(_ assignments: [String])
    /// The keep-alive interval the supervisor expects, if it watches the daemon.
    var watchdogInterval: Duration? { get }
    /// `CLOCK_MONOTONIC` now in microseconds, for `MONOTONIC_USEC=`.
    func monotonicMicroseconds() -> UInt64
}
