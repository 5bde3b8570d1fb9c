import AuthdProtocol
import Testing

@Suite("Strict JSON parser")
struct JSONParserTests {
    let parser = JSONParser()

    @Test("parses every JSON type")
    func parsesTypes() throws {
        let value = try parser.parse(#" {"a": [1, -2, 3.5, 1e3, true, false, null, "x\n\u00e9\ud83d\ude00"], "b": {}} "#)
        let expected: JSONValue = .object([
            "a": [1, -2, 3.5, 1000.0, true, false, nil, .string("x\né😀")],
            "b": .object([:]),
        ])
        #expect(value == expected)
    }

    @Test(
        "refuses malformed text",
        arguments: [
            "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "+1", "tru", "nul", "\"abc", "{\"a\" 1}",
            "{a:1}", "[1 2]", "\"\\x\"", "\"\\u12\"", "1 2", "{\"a\":1}}", "'a'", "NaN", "Infinity",
        ])
    func refusesMalformed(text: String) {
        #expect(throws: JSONParseError.self) { try parser.parse(text) }
    }

    @Test("refuses duplicate keys, also when spelt with escapes")
    func refusesDuplicateKeys() {
        #expect(throws: JSONParseError.self) { try parser.parse(#"{"kid":"a","kid":"b"}"#) }
        #expect(throws: JSONParseError.self) { try parser.parse(#"{"kid":"a","k\u0069d":"b"}"#) }
        #expect(throws: JSONParseError.self) { try parser.parse(#"{"x":{"a":1,"a":2}}"#) }
    }

    @Test("refuses invalid UTF-8, lone surrogates and raw control characters")
    func refusesBadStrings() {
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try parser.parse(#""\ud800""#) }
        #expect(throws: JSONParseError.self) { try parser.parse(#""\udc00x""#) }
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0x0A, 0x22]) }
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0x00, 0x22]) }
    }

    @Test("strings of raw UTF-8 beyond ASCII are validated, wherever the first such byte falls")
    func rawUTF8() throws {
        #expect(try parser.parse(Array("\"plain ascii\"".utf8)) == .string("plain ascii"))
        #expect(try parser.parse(Array("\"caf\u{e9}\"".utf8)) == .string("café"))
        #expect(try parser.parse(Array("\"\u{1F600} first\"".utf8)) == .string("😀 first"))
        // Invalid after an ASCII start, at the end, and a truncated sequence.
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0x61, 0x62, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0x61, 0x62, 0x80, 0x22]) }
        #expect(throws: JSONParseError.self) { try parser.parse([0x22, 0x61, 0xF0, 0x9F, 0x98, 0x22]) }
    }

    @Test("limits nesting depth")
    func limitsDepth() throws {
        let shallow = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        _ = try parser.parse(shallow)
        let deep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect(throws: JSONParseError.self) { try parser.parse(deep) }
        let veryDeep = String(repeating: "{\"a\":", count: 100_000)
        #expect(throws: JSONParseError.self) { try parser.parse(veryDeep) }
    }

    @Test("keeps 64-bit integers exact and refuses numbers beyond Double")
    func numbers() throws {
        #expect(try parser.parse("9223372036854775807") == .int(Int64.max))
        #expect(try parser.parse("-9223372036854775808") == .int(Int64.min))
        #expect(try parser.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(throws: JSONParseError.self) { try parser.parse("1e400") }
        #expect(throws: JSONParseError.self) { try parser.parse("-1e400") }
        #expect(try parser.parse("1e-400") == .double(0))
    }

    @Test("writer output parses back to the same value and never contains a newline")
    func roundTrip() throws {
        let value: JSONValue = .object([
            "s": .string("line\nbreak \"quoted\" \\ \u{01} \u{7F} é"), "n": -42, "d": 0.25, "a": [true, nil],
        ])
        let bytes = JSONWriter.bytes(value)
        #expect(!bytes.contains(0x0A))
        #expect(try parser.parse(bytes) == value)
    }
}
