import CSystemd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Talks to the service manager through `sd_notify(3)`: readiness, status, reloads, shutdown and
/// watchdog keep-alives. Every call is a no-op when authd was not started by systemd (no
/// `NOTIFY_SOCKET`), so the daemon runs the same way from a terminal.
public struct SystemdNotifier: Sendable {
    /// A notifier for the current process.
    public init() {}

    /// Whether a service manager listens (`NOTIFY_SOCKET` is set).
    public var isEnabled: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Sends `assignments` (such as `READY=1`) as one datagram.
    /// `sd_notify` is variadic-free but takes a C string, which is why the message is preformatted.
    public func send(_ assignments: [String]) {
        guard isEnabled, !assignments.isEmpty else { return }
        _ = sd_notify(0, assignments.joined(separator: "\n"))
    }

    /// The watchdog interval the manager expects keep-alives within, if it set one for this process.
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds))
    }

    /// `CLOCK_MONOTONIC` now in microseconds, for `RELOADING=1`'s `MONOTONIC_USEC=`.
    public static func monotonicMicroseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000 + UInt64(spec.tv_nsec) / 1000
    }
}
