import NIOCore
import NIOHTTP1

/// What the HTTP face answers to one request: a status, headers and a small body.
struct HTTPReply: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: [UInt8]

    init(_ status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: [UInt8] = [], contentType: String? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        if let contentType { self.headers.replaceOrAdd(name: "Content-Type", value: contentType) }
    }

    /// The response parts that carry this reply, with its length, and `Connection: close` when
    /// the connection ends after it; a reply to HEAD has no body.
    func responseParts(keepAlive: Bool, headOnly: Bool) -> [HTTPServerResponsePart] {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        var parts: [HTTPServerResponsePart] = [.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))]
        if !headOnly, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        parts.append(.end(nil))
        return parts
    }

    /// A short plain-text answer, for statuses nobody parses (404, 405, 400 …).
    static func text(_ status: HTTPResponseStatus, _ message: String, headers: HTTPHeaders = [:]) -> HTTPReply {
        HTTPReply(status, headers: headers, body: Array((message + "\n").utf8), contentType: "text/plain; charset=utf-8")
    }

    /// The value of a header field carrying `value`, made safe: control characters and bytes
    /// outside printable ASCII are percent-encoded (as is `%` itself), so nothing a token holds can
    /// split a header or start another.
    static func headerValue(_ value: String) -> String {
        // Almost every value (a subject, roles, a jti) needs nothing: it is used as it is,
        // not rebuilt a scalar at a time.
        guard value.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "%") }) else { return value }
        var safe = ""
        safe.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            if byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "%") {
                safe.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                safe += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return safe
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
