import NIOHTTP1

/// A request's header fields as the face reads them: every value of a field, by name in any case.
/// NIO's ``HTTPHeaders`` (a request the decoder read) and ``HTTPShortcutFields`` (one read by
/// ``HTTPShortcutHandler``) both are.
protocol HTTPRequestFields {
    subscript(name: String) -> [String] { get }
}

extension HTTPHeaders: HTTPRequestFields {}

/// The header fields of an ``HTTPReply``, in order: a plain list, written out as it is by
/// ``HTTPShortcutHandler`` or made into NIO's ``HTTPHeaders`` for a reply the task writes.
struct HTTPReplyFields: Sendable, ExpressibleByDictionaryLiteral, Sequence {
    private var fields: [(name: String, value: String)] = []

    init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    mutating func add(name: String, value: String) {
        fields.append((name, value))
    }

    /// Replaces every field named `name` (in any case) with one holding `value`, or adds it.
    mutating func replaceOrAdd(name: String, value: String) {
        fields.removeAll { $0.name.lowercased() == name.lowercased() }
        fields.append((name, value))
    }

    func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

/// RFC 9110's grammar for what a field holds.
enum HTTPSyntax {
    /// A tchar: what field names, methods and cookie names (RFC 6265) are made of.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// A token: one tchar or more.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(isTokenByte)
    }

    /// The tchars, as a set.
    static let tokenBytes = ByteSet(where: isTokenByte)

    /// Whether `bytes` are a field value that can neither end the field nor the head: visible
    /// ASCII, spaces and tabs. (RFC 9110 also allows obs-text; neither the face's reader nor its
    /// replies need it.) One pass without branches, which the compiler vectorizes: every byte of
    /// a token goes through it.
    static func isFieldValue(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var outside: UInt8 = 0
        for byte in bytes {
            // 1 for a byte outside 0x20...0x7E that is not a tab, else 0.
            outside |= UInt8(truncatingIfNeeded: (byte &- 0x20) > 0x5E ? 1 : 0) & UInt8(truncatingIfNeeded: byte != 0x09 ? 1 : 0)
        }
        return outside == 0
    }
}

/// A set of byte values, one bit each: a membership test is a shift and a mask.
struct ByteSet: Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init(where member: (UInt8) -> Bool) {
        for byte in UInt8.min...UInt8.max where member(byte) {
            let bit = UInt64(1) << UInt64(byte & 63)
            switch byte >> 6 {
            case 0: words.0 |= bit
            case 1: words.1 |= bit
            case 2: words.2 |= bit
            default: words.3 |= bit
            }
        }
    }

    @inline(__always)
    func contains(_ byte: UInt8) -> Bool {
        let word =
            switch byte >> 6 {
            case 0: words.0
            case 1: words.1
            case 2: words.2
            default: words.3
            }
        return word >> UInt64(byte & 63) & 1 == 1
    }
}
