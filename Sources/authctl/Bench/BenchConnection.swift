#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A raw, blocking connection to authd for the benchmark: no JSON codec, no event loop, nothing
/// between the measurement and the socket but `write(2)` and `read(2)`. The load generator shares
/// the machine's cores with the daemon, so every cycle it saves is a cycle authd gets.
final class BenchConnection {
    private let descriptor: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var pending: [UInt8] = []

    init(path: String) throws(BenchError) {
        // Stored only once connected: a throwing initializer that had stored it would still run
        // deinit and close the descriptor twice.
        let candidate = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard candidate >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(candidate)
            throw BenchError("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(candidate, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(candidate)
            throw BenchError("cannot connect to \(path): \(reason)")
        }
        descriptor = candidate
    }

    deinit { close(descriptor) }

    /// Writes all of `bytes`.
    func send(_ bytes: [UInt8]) throws(BenchError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { throw BenchError("write: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    /// Blocks until at least one whole reply line has arrived, then hands every complete line
    /// (without its newline) to `body`.
    func receiveLines(_ body: (ArraySlice<UInt8>) throws(BenchError) -> Void) throws(BenchError) {
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw BenchError(count == 0 ? "authd closed the connection" : "read: \(String(cString: strerror(errno)))") }
            pending.append(contentsOf: buffer[0..<count])
            guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { continue }
            var start = pending.startIndex
            while let newline = pending[start...lastNewline].firstIndex(of: UInt8(ascii: "\n")) {
                try body(pending[start..<newline])
                start = newline + 1
                if start > lastNewline { break }
            }
            pending.removeSubrange(..<start)
            return
        }
    }
}

/// A failure of the benchmark itself (not an error reply from authd, which it counts).
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A monotonic clock reading in nanoseconds.
func monotonicNow() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Runs `body` on a new POSIX thread; the returned handle joins it.
final class BenchThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private var thread = pthread_t()

    init(_ run: @escaping () -> Void) {
        let body = Unmanaged.passRetained(Body(run)).toOpaque()
        pthread_create(&thread, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, body)
    }

    func join() { pthread_join(thread, nil) }
}
