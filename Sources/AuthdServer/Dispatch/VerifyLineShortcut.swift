package import AuthdProtocol
package import NIOCore

/// Recognises the one request line services send on every call, `verify` with a bare token, in
/// its exact compact form, and reads it without building a JSON tree:
///
///     {"op":"verify","token":"<token>"}
///     {"id":<integer or simple string>,"op":"verify","token":"<token>"}
///
/// It accepts a strict subset of what the full parser accepts, with the same meaning: the token
/// may only hold base64url characters and dots (so it cannot contain an escape), an integer id only
/// digits, a string id only letters, digits and `-_.:`. Any other line, however valid, returns nil
/// and goes through the full parser and all of its checks.
package enum VerifyLineShortcut {
    private static let verifyPrefix = Array(#""op":"verify","token":""#.utf8)
    private static let idPrefix = Array(#"{"id":"#.utf8)
    private static let maximumIDLength = 128

    /// The request's id and token, or nil when the line is not exactly of the shortcut's shape.
    package static func match(_ line: UnsafeRawBufferPointer) -> (id: RequestID?, token: String)? {
        let bytes = line.bindMemory(to: UInt8.self)
        guard let (id, index) = leadingID(bytes), starts(bytes, at: index, with: verifyPrefix) else { return nil }
        let tokenStart = index + verifyPrefix.count
        // A table look-up per byte: this loop runs over every token verified.
        let tokenEnd = tokenByteTable.withUnsafeBufferPointer { table in
            var end = tokenStart
            while end < bytes.count, table[Int(bytes[end])] { end += 1 }
            return end
        }
        // The token, its closing quote, the closing brace, and nothing after.
        guard tokenEnd > tokenStart, tokenEnd + 2 == bytes.count, bytes[tokenEnd] == UInt8(ascii: "\""),
            bytes[tokenEnd + 1] == UInt8(ascii: "}")
        else { return nil }
        let token = String(decoding: UnsafeBufferPointer(rebasing: bytes[tokenStart..<tokenEnd]), as: UTF8.self)
        return (id, token)
    }

    /// The opening brace and, if there is one, `"id":<id>,`: the id and where the rest begins.
    static func leadingID(_ bytes: UnsafeBufferPointer<UInt8>) -> (id: RequestID?, next: Int)? {
        guard bytes.count > 2, bytes[0] == UInt8(ascii: "{") else { return nil }
        guard starts(bytes, at: 0, with: idPrefix) else { return (nil, 1) }
        guard let (id, next) = readID(bytes, at: idPrefix.count), next < bytes.count, bytes[next] == UInt8(ascii: ",") else {
            return nil
        }
        return (id, next + 1)
    }

    private static func readID(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> (RequestID, Int)? {
        guard start < bytes.count else { return nil }
        if bytes[start] == UInt8(ascii: "\"") {
            var end = start + 1
            while end < bytes.count, end - start <= maximumIDLength, isIDByte(bytes[end]) { end += 1 }
            guard end > start + 1, end < bytes.count, bytes[end] == UInt8(ascii: "\"") else { return nil }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[(start + 1)..<end]), as: UTF8.self)
            return (.string(text), end + 1)
        }
        // Digits only, no sign, no leading zero, at most 18 of them: always within Int64.
        var end = start
        var value: Int64 = 0
        while end < bytes.count, end - start < 18, bytes[end] >= UInt8(ascii: "0"), bytes[end] <= UInt8(ascii: "9") {
            value = value * 10 + Int64(bytes[end] - UInt8(ascii: "0"))
            end += 1
        }
        guard end > start, !(bytes[start] == UInt8(ascii: "0") && end > start + 1) else { return nil }
        return (.int(value), end)
    }

    static func starts(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int, with prefix: [UInt8]) -> Bool {
        guard bytes.count - offset >= prefix.count else { return false }
        for position in 0..<prefix.count where bytes[offset + position] != prefix[position] { return false }
        return true
    }

    /// ``isTokenByte(_:)`` for each of the 256 byte values.
    private static let tokenByteTable: [Bool] = (0...255).map { isTokenByte(UInt8($0)) }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            true
        default: false
        }
    }

    private static func isIDByte(_ byte: UInt8) -> Bool { isTokenByte(byte) || byte == UInt8(ascii: ":") }
}

/// Recognises `ping` in its exact compact forms, `{"op":"ping"}` and `{"id":<id>,"op":"ping"}`
/// (the id as the verify shortcut takes it), so that it can be answered without a JSON tree. Any
/// other line returns nil and goes through the full parser.
package enum PingLine {
    private static let body = Array(#""op":"ping"}"#.utf8)

    /// A ping line, and its id.
    package struct Match {
        package let id: RequestID?
    }

    package static func match(_ line: ByteBuffer) -> Match? {
        line.withUnsafeReadableBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard let (id, next) = VerifyLineShortcut.leadingID(bytes), next + body.count == bytes.count,
                VerifyLineShortcut.starts(bytes, at: next, with: body)
            else { return nil }
            return Match(id: id)
        }
    }
}
