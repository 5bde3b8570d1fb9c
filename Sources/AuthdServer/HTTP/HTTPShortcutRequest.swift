package import NIOCore
package import NIOHTTP1

/// A request head in the narrow, unambiguous form every reverse proxy sends for forward-auth,
/// read straight from the bytes so that ``HTTPShortcutHandler`` can answer it without NIO's HTTP
/// decoder, encoder and validators (more than half of what a proxied `/auth` cost).
///
/// The form: `METHOD SP origin-form SP HTTP/1.1 CRLF`, then header fields `name: OWS value CRLF` (an
/// RFC 9110 token for a name; visible ASCII, spaces and tabs for a value), then `CRLF`, and nothing
/// that frames a body or changes the connection: no `Transfer-Encoding`, `Upgrade` or `Expect`,
/// `Content-Length` only as `0`, `Connection` only as `keep-alive`. Anything else, including what
/// is malformed, is not judged here: ``read(_:maximumHeadBytes:maximumFields:)`` says
/// ``Reading/handOver`` and NIO's decoder reads it, answering 400 where it must. Being narrower
/// than the decoder can only send a request the slow way; the fuzz target `http-head` checks that
/// whatever is read here, the decoder reads the same way.
package struct HTTPShortcutRequest {
    /// What reading the buffered bytes found.
    package enum Reading {
        /// A whole head of `length` bytes, and no body.
        case request(HTTPShortcutRequest, length: Int)
        /// The start of one: wait for more bytes.
        case incomplete
        /// Something outside the form: NIO's decoder must read it, from its first byte.
        case handOver
    }

    package var method: HTTPMethod
    package var uri: String
    package var fields: HTTPShortcutFields

    /// The methods read here; any other (NIO's decoder knows WebDAV's and more, and refuses the
    /// rest) is handed over.
    private static let methods: [String: HTTPMethod] = [
        "GET": .GET, "HEAD": .HEAD, "POST": .POST, "PUT": .PUT, "DELETE": .DELETE, "PATCH": .PATCH, "OPTIONS": .OPTIONS,
    ]

    /// Reads the head at the start of `buffer`.
    package static func read(_ buffer: ByteBuffer, maximumHeadBytes: Int, maximumFields: Int) -> Reading {
        let scan = buffer.withUnsafeReadableBytes { bytes in
            var scanner = HeadScanner(bytes: bytes, limit: min(bytes.count, maximumHeadBytes), maximumFields: maximumFields)
            return scanner.scan()
        }
        switch scan {
        case .incomplete:
            // A head that has not ended within the limit is the decoder's to refuse.
            return buffer.readableBytes >= maximumHeadBytes ? .handOver : .incomplete
        case .handOver:
            return .handOver
        case .head(let head):
            let start = buffer.readerIndex
            guard let method = methods[buffer.getString(at: start, length: head.method.count)!] else { return .handOver }
            let uri = buffer.getString(at: start + head.target.lowerBound, length: head.target.count)!
            let fields = HTTPShortcutFields(head: buffer.getSlice(at: start, length: head.length)!, ranges: head.fields)
            return .request(HTTPShortcutRequest(method: method, uri: uri, fields: fields), length: head.length)
        }
    }
}

/// The header fields of an ``HTTPShortcutRequest``: the head's bytes and where each name and
/// value lie in them, made into strings only when the face asks for one by name.
package struct HTTPShortcutFields: HTTPRequestFields {
    fileprivate let head: ByteBuffer
    fileprivate let ranges: [HeadScanner.Field]

    /// Every field, in order.
    package var all: [(name: String, value: String)] {
        head.withUnsafeReadableBytes { bytes in
            ranges.map { (String(decoding: bytes[$0.name], as: UTF8.self), String(decoding: bytes[$0.value], as: UTF8.self)) }
        }
    }

    subscript(name: String) -> [String] {
        var values: [String] = []
        let wanted = name.utf8
        head.withUnsafeReadableBytes { bytes in
            for field in ranges where field.name.count == wanted.count {
                let matches = zip(bytes[field.name], wanted).allSatisfy { HeadScanner.lowercased($0) == HeadScanner.lowercased($1) }
                if matches { values.append(String(decoding: bytes[field.value], as: UTF8.self)) }
            }
        }
        return values
    }
}

/// The byte-level reading behind ``HTTPShortcutRequest``: offsets only, no strings.
private struct HeadScanner {
    struct Field {
        var name: Range<Int>
        var value: Range<Int>
    }

    struct Head {
        var method: Range<Int>
        var target: Range<Int>
        var fields: [Field]
        var length: Int
    }

    enum Scan {
        case head(Head)
        case incomplete
        case handOver
    }

    /// Thrown when the bytes leave the form.
    private struct OutsideTheForm: Error {}
    /// Thrown when the bytes run out before the head ends.
    private struct NeedMore: Error {}

    let bytes: UnsafeRawBufferPointer
    /// How far the head may reach.
    let limit: Int
    let maximumFields: Int
    private var position = 0

    init(bytes: UnsafeRawBufferPointer, limit: Int, maximumFields: Int) {
        self.bytes = bytes
        self.limit = limit
        self.maximumFields = maximumFields
    }

    mutating func scan() -> Scan {
        do {
            let method = try span(of: Self.upperCaseLetters)
            guard method.count <= 16 else { throw OutsideTheForm() }
            try expect(UInt8(ascii: " "))
            guard try peek() == UInt8(ascii: "/") else { throw OutsideTheForm() }
            let target = try span(of: Self.targetBytes)
            for byte in " HTTP/1.1\r\n".utf8 { try expect(byte) }
            var fields: [Field] = []
            fields.reserveCapacity(8)
            var sawContentLength = false
            while try peek() != UInt8(ascii: "\r") {
                guard fields.count < maximumFields else { throw OutsideTheForm() }
                let field = try readField()
                try check(field, sawContentLength: &sawContentLength)
                fields.append(field)
            }
            try expect(UInt8(ascii: "\r"))
            try expect(UInt8(ascii: "\n"))
            return .head(Head(method: method, target: target, fields: fields, length: position))
        } catch is NeedMore {
            return .incomplete
        } catch {
            return .handOver
        }
    }

    /// `name ":" OWS value OWS CRLF`.
    private mutating func readField() throws -> Field {
        let name = try span(of: HTTPSyntax.tokenBytes)
        try expect(UInt8(ascii: ":"))
        while position < limit, bytes[position] == UInt8(ascii: " ") || bytes[position] == UInt8(ascii: "\t") { position += 1 }
        let valueStart = position
        // Every byte of a token goes through here: the line's end is found by memchr, and what
        // precedes it checked in one pass without branches.
        let end = min(bytes.offset(of: UInt8(ascii: "\r"), from: position) ?? limit, limit)
        guard HTTPSyntax.isFieldValue(UnsafeRawBufferPointer(rebasing: bytes[position..<end])) else { throw OutsideTheForm() }
        position = end
        // Trailing spaces and tabs stay in the value, as NIO's decoder leaves them: a request
        // must read the same whichever way it goes.
        let value = valueStart..<position
        try expect(UInt8(ascii: "\r"))
        try expect(UInt8(ascii: "\n"))
        return Field(name: name, value: value)
    }

    /// Fields that frame a body or change the connection are the decoder's: any but a single
    /// `Content-Length: 0` and `Connection: keep-alive`.
    private func check(_ field: Field, sawContentLength: inout Bool) throws {
        if equalsIgnoringCase(field.name, "content-length") {
            guard !sawContentLength, equalsIgnoringCase(field.value, "0") else { throw OutsideTheForm() }
            sawContentLength = true
        } else if equalsIgnoringCase(field.name, "connection") {
            guard equalsIgnoringCase(field.value, "keep-alive") else { throw OutsideTheForm() }
        } else if equalsIgnoringCase(field.name, "transfer-encoding") || equalsIgnoringCase(field.name, "upgrade")
            || equalsIgnoringCase(field.name, "expect")
        {
            throw OutsideTheForm()
        }
    }

    /// Whether the bytes in `range` are `text` (lowercase ASCII) in any case.
    private func equalsIgnoringCase(_ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        return zip(bytes[range], expected).allSatisfy { Self.lowercased($0) == $1 }
    }

    /// One byte of `set` or more, from here.
    private mutating func span(of set: ByteSet) throws -> Range<Int> {
        let start = position
        while position < limit, set.contains(bytes[position]) { position += 1 }
        guard position > start else { throw OutsideTheForm() }
        return start..<position
    }

    private func peek() throws -> UInt8 {
        guard position < limit else { throw position < bytes.count ? OutsideTheForm() as any Error : NeedMore() }
        return bytes[position]
    }

    private mutating func expect(_ byte: UInt8) throws {
        guard try peek() == byte else { throw OutsideTheForm() }
        position += 1
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    private static let upperCaseLetters = ByteSet(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") })
        /// RFC 3986's pchar, `/` and `?`: an origin-form target, no fragment, no spaces.
    private static let targetBytes = ByteSet(where: { byte in
        HTTPSyntax.isTokenByte(byte) && !"#|^`".utf8.contains(byte) || "()*,;=:@/?".utf8.contains(byte)
    })
}
