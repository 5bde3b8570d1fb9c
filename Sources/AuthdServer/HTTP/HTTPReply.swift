import NIOCore
import NIOHTTP1

/// What the HTTP face answers to one request: a status, headers and a small body.
struct HTTPReply: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPReplyFields
    var body: [UInt8]

    init(_ status: HTTPResponseStatus, headers: HTTPReplyFields = [:], body: [UInt8] = [], contentType: String? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        if let contentType { self.headers.replaceOrAdd(name: "Content-Type", value: contentType) }
    }

    /// The response parts that carry this reply, with its length, and `Connection: close` when
    /// the connection ends after it; a reply to HEAD has no body.
    func responseParts(keepAlive: Bool, headOnly: Bool) -> [HTTPServerResponsePart] {
        var headers = HTTPHeaders(self.headers.map { ($0.name, $0.value) })
        headers.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        var parts: [HTTPServerResponsePart] = [.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))]
        if !headOnly, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        parts.append(.end(nil))
        return parts
    }

    /// The bytes of this reply on a connection kept alive, for ``HTTPShortcutHandler``, with its
    /// `Content-Length` (which ``headers`` never holds) unless its status has no content; `nil` if
    /// a field could split the head (it never should: values pass through ``headerValue(_:)``),
    /// for which the connection is closed, as NIO's validator does for a reply the task writes.
    func serialized(headOnly: Bool, allocator: ByteBufferAllocator) -> ByteBuffer? {
        let statusLine = Self.statusLines[status.code] ?? "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"
        // A 304 (and any status without content) states no length: RFC 9110 §8.6 allows one only
        // if it is the 200's, and NIO's encoder strips it for the replies the task writes.
        let length = status.mayHaveResponseBody ? "Content-Length: \(body.count)\r\n\r\n" : "\r\n"
        var size = statusLine.utf8.count + length.utf8.count
        for (name, value) in headers { size += name.utf8.count + value.utf8.count + 4 }
        var buffer = allocator.buffer(capacity: size + (headOnly ? 0 : body.count))
        var wellFormed = true
        let tokenBytes = HTTPSyntax.tokenBytes
        // One write of the whole head, each piece copied in place: a ByteBuffer write per piece
        // costs more than the piece.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var written = 0
            func put(_ text: String, _ kind: Piece = .fixed) {
                var text = text
                text.withUTF8 { bytes in
                    switch kind {
                    case .fixed: break
                    case .name: if bytes.isEmpty || !bytes.allSatisfy(tokenBytes.contains) { wellFormed = false }
                    case .value: if !HTTPSyntax.isFieldValue(UnsafeRawBufferPointer(bytes)) { wellFormed = false }
                    }
                    UnsafeMutableRawBufferPointer(rebasing: out[written..<written + bytes.count]).copyMemory(from: UnsafeRawBufferPointer(bytes))
                    written += bytes.count
                }
            }
            put(statusLine)
            for (name, value) in headers {
                put(name, .name)
                put(": ")
                put(value, .value)
                put("\r\n")
            }
            put(length)
            return written
        }
        guard wellFormed else { return nil }
        if !headOnly, status.mayHaveResponseBody { buffer.writeBytes(body) }
        return buffer
    }

    /// What a piece of the head is checked as.
    private enum Piece {
        case fixed
        case name
        case value
    }

    /// The status lines of the statuses the face answers with, made once.
    private static let statusLines: [UInt: String] = Dictionary(
        uniqueKeysWithValues: [HTTPResponseStatus.ok, .notModified, .badRequest, .unauthorized, .forbidden, .notFound, .methodNotAllowed,
                               .payloadTooLarge, .serviceUnavailable].map { ($0.code, "HTTP/1.1 \($0.code) \($0.reasonPhrase)\r\n") })

    /// A short plain-text answer, for statuses nobody parses (404, 405, 400 …).
    static func text(_ status: HTTPResponseStatus, _ message: String, headers: HTTPReplyFields = [:]) -> HTTPReply {
        HTTPReply(status, headers: headers, body: Array((message + "\n").utf8), contentType: "text/plain; charset=utf-8")
    }

    /// The value of a header field carrying `value`, made safe: control characters and bytes
    /// outside printable ASCII are percent-encoded (as is `%` itself), so nothing a token holds can
    /// split a header or start another.
    static func headerValue(_ value: String) -> String {
        // Almost every value (a subject, roles, a jti) needs nothing: it is used as it is,
        // not rebuilt a scalar at a time.
        var value = value
        let plain = value.withUTF8 { bytes in bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "%") } }
        guard !plain else { return value }
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
