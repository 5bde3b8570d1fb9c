import AuthdProtocol
import Foundation

/// A blocking Unix-socket connection that speaks raw bytes, for tests that must control exactly
/// what goes on the wire (pipelining, overlong lines, garbage).
final class RawConnection {
    let descriptor: Int32
    private var buffer: [UInt8] = []

    init(path: String, timeoutSeconds: Int = 10) throws {
        // The descriptor is stored only once connected: a class whose initializer throws after
        // storing every property still runs its deinit, which would close the descriptor a second
        // time — by then possibly another thread's newly opened file.
        let candidate = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard candidate >= 0 else { throw DaemonError("socket() failed") }
        let result = withSocketAddress(path) { connect(candidate, $0, $1) }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(candidate)
            throw DaemonError("connect failed: \(reason)")
        }
        descriptor = candidate
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw DaemonError("send failed: \(String(cString: strerror(errno)))") }
            offset += count
        }
    }

    /// Closes the write side, as a client does after its last request.
    func shutdownWrite() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// The next reply line, or nil at end of stream.
    func readLine() throws -> String? {
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

    /// Whether the peer has closed the connection (a non-blocking peek sees end of file or a reset).
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if count == 0 { return true }
        if count < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        return false
    }

    /// Sends one line and parses the reply.
    func request(_ line: String) throws -> ReplyEnvelope {
        try send(line + "\n")
        guard let reply = try readLine() else { throw DaemonError("connection closed before the reply") }
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
