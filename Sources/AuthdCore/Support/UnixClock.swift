import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A source of wall-clock time in whole Unix seconds.
///
/// Token lifetimes are decided against this clock, and tests inject a ``ManualUnixClock`` so that
/// expiry, leeway and key rotation can be checked at exact instants.
public protocol UnixClock: Sendable {
    /// Seconds since 1970-01-01T00:00:00Z.
    func now() -> Int64
}

/// The system's real-time clock.
public struct SystemUnixClock: UnixClock {
    /// The system clock.
    public init() {}

    public func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec)
    }
}

/// A clock that only moves when told to, for tests and the fuzz targets: not public API.
package final class ManualUnixClock: UnixClock {
    private let current: Mutex<Int64>

    /// A clock that reads `start` until advanced.
    package init(_ start: Int64) { current = Mutex(start) }

    public func now() -> Int64 { current.withLock { $0 } }

    /// Moves the clock forward (or backward, with a negative value) by `seconds`.
    package func advance(by seconds: Int64) { current.withLock { $0 += seconds } }

    /// Sets the clock to `instant`.
    package func set(_ instant: Int64) { current.withLock { $0 = instant } }
}

/// A monotonic reading in nanoseconds, for uptime and durations that must not jump with the wall clock.
package func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
