import AuthdProtocol
import Dispatch
import Foundation

/// A Unix-socket connection that speaks raw bytes, for tests that must control exactly what goes
/// on the wire (pipelining, overlong lines, garbage).
///
/// Its socket calls block, so they run on a dispatch queue of its own, never on a thread of the
/// cooperative pool: an in-process daemon serves on that pool, and a test blocked in recv() there
/// would starve the very daemon it waits for (two cores, two pool threads).
final class RawConnection: @unchecked Sendable {
    let descriptor: Int32
    /// Only touched on `queue`.
    private var buffer: [UInt8] = []
    private let queue = DispatchQueue(label: "authd.test.raw-connection")

    init(path: String, timeoutSeconds: Int = 10) throws {
        // The descriptor is stored only once connected: a class whose initializer throws after
        // storing every property still runs its deinit, which would close the descriptor a second
        // time — by then possibly another thread's newly opened file.
        let candidate = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard candidate >= 0 else { throw DaemonError("socket() failed") }
        descriptor = try Self.connected(candidate, withSocketAddress(path) { connect(candidate, $0, $1) }, timeoutSeconds: timeoutSeconds)
    }

    /// `candidate` once `connect` (which returned `result`) succeeded, with a receive timeout;
    /// closed and thrown away if it failed.
    private static func connected(_ candidate: Int32, _ result: Int32, timeoutSeconds: Int) throws -> Int32 {
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(candidate)
            throw DaemonError("connect failed: \(reason)")
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(candidate, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return candidate
    }

    /// A TCP connection to `127.0.0.1:port` (the HTTP face's loopback listener).
    init(loopbackPort port: Int, timeoutSeconds: Int = 10) throws {
        let candidate = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard candidate >= 0 else { throw DaemonError("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(candidate, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        descriptor = try Self.connected(candidate, result, timeoutSeconds: timeoutSeconds)
    }

    deinit { close(descriptor) }

    /// Connects once something listens at `path`. A socket file appears at bind(), before
    /// listen(): until then a connection is refused, so existence alone proves nothing.
    static func whenListening(path: String, within limit: Duration = .seconds(30)) async throws -> RawConnection {
        let deadline = ContinuousClock.now + limit
        while true {
            do {
                return try RawConnection(path: path)
            } catch {
                if ContinuousClock.now >= deadline { throw error }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Runs blocking socket work on the connection's own queue.
    private func offPool<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) async throws { try await offPool { try self.sendNow(bytes) } }

    private func sendNow(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw DaemonError("send failed: \(String(cString: strerror(errno)))") }
            offset += count
        }
    }

    /// Closes the write side, as a client does after its last request.
    func shutdownWrite() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// Ends the connection now, as the peer sees it. The descriptor itself is closed only by
    /// deinit: closing it here as well would close whatever another thread opened under the same
    /// number in between (an AuthdClient's socket, say) — which once crashed NIO with EBADF.
    func disconnect() { shutdown(descriptor, Int32(SHUT_RDWR)) }

    /// The next reply line, or nil at end of stream.
    func readLine() async throws -> String? { try await offPool { try self.readLineNow() } }

    private func readLineNow() throws -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return nil }
            guard count > 0 else { throw DaemonError("recv failed: \(String(cString: strerror(errno)))") }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    /// Exactly `count` bytes, or fewer if the stream ends first.
    func read(count: Int) async throws -> [UInt8] {
        try await offPool {
            while self.buffer.count < count {
                var chunk = [UInt8](repeating: 0, count: 65536)
                let received = chunk.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
                if received == 0 { break }
                guard received > 0 else { throw DaemonError("recv failed: \(String(cString: strerror(errno)))") }
                self.buffer.append(contentsOf: chunk[0..<received])
            }
            let taken = Array(self.buffer.prefix(count))
            self.buffer.removeFirst(taken.count)
            return taken
        }
    }

    /// Whether the peer has closed the connection (a non-blocking peek sees end of file or a reset).
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if count == 0 { return true }
        if count < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        return false
    }

    /// Sends one line and parses the reply.
    func request(_ line: String) async throws -> ReplyEnvelope {
        try await send(line + "\n")
        guard let reply = try await readLine() else { throw DaemonError("connection closed before the reply") }
        return try ReplyEnvelope.parse(Array(reply.utf8))
    }
}

extension ReplyEnvelope {
    var errorCode: AuthdError.Code? {
        if case .failure(let error) = outcome { return error.code }
        return nil
    }

    var resultObject: JSONObject? { try? outcome.get() }
}

/// Calls `body` with `path` as an `AF_UNIX` socket address, for `bind` or `connect`.
func withSocketAddress<Result>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: path.utf8)
        raw[path.utf8.count] = 0
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}
