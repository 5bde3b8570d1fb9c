import Foundation

/// An HTTP/1.1 response as read off the wire.
struct HTTPTestResponse: Sendable {
    let status: Int
    /// Header fields in order, names as sent.
    let headers: [(name: String, value: String)]
    let body: [UInt8]

    /// Every value of header `name` (case-insensitive).
    func values(_ name: String) -> [String] { headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value) }
    /// The first value of header `name`.
    func header(_ name: String) -> String? { values(name).first }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A raw HTTP/1.1 client over a ``RawConnection``: requests go out exactly as written, so tests
/// can send what no well-behaved client would (pipelined, malformed, oversized).
struct HTTPTestClient: Sendable {
    let connection: RawConnection

    init(connection: RawConnection) { self.connection = connection }
    init(loopbackPort port: Int) throws { connection = try RawConnection(loopbackPort: port) }

    /// Sends a request for `target` and reads its response.
    func request(
        _ method: String = "GET", _ target: String, headers: [(String, String)] = [], body: String? = nil
    ) async throws -> HTTPTestResponse {
        try await connection.send(Self.format(method, target, headers: headers, body: body))
        return try await readResponse(toHead: method == "HEAD")
    }

    /// A request's bytes, with `Host` and (for a body) `Content-Length`.
    static func format(_ method: String, _ target: String, headers: [(String, String)] = [], body: String? = nil) -> String {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: authd\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        return text + "\r\n" + (body ?? "")
    }

    /// The next response (its body per `Content-Length`; none for a response to HEAD).
    func readResponse(toHead: Bool = false) async throws -> HTTPTestResponse {
        guard let statusLine = try await connection.readLine() else { throw DaemonError("connection closed before a response") }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw DaemonError("not an HTTP status line: \(statusLine)")
        }
        var headers: [(name: String, value: String)] = []
        while let line = try await connection.readLine()?.trimmingCharacters(in: CharacterSet(charactersIn: "\r")), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw DaemonError("not a header line: \(line)") }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let length = toHead ? 0 : Int(headers.first { $0.name.lowercased() == "content-length" }?.value ?? "0") ?? 0
        let body = try await connection.read(count: length)
        return HTTPTestResponse(status: status, headers: headers, body: body)
    }
}
