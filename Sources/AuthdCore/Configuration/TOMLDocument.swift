/// A value read from a TOML configuration file.
package enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case array([TOMLValue])
    case table(TOMLTable)

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a float"
        case .boolean: "a boolean"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

/// A TOML table: keys in file order.
package struct TOMLTable: Sendable, Equatable {
    package var entries: [(key: String, value: TOMLValue)] = []

    package init() {}

    package subscript(key: String) -> TOMLValue? {
        get { entries.first { $0.key == key }?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    package static func == (lhs: TOMLTable, rhs: TOMLTable) -> Bool {
        lhs.entries.count == rhs.entries.count && lhs.entries.allSatisfy { rhs[$0.key] == $0.value }
    }
}

/// Why a configuration file could not be read, with its line.
package struct TOMLError: Error, Sendable, CustomStringConvertible {
    package let line: Int
    package let reason: String
    package var description: String { "line \(line): \(reason)" }
}

/// A reader for the TOML that authd's configuration needs.
///
/// It covers tables, arrays of tables, dotted and quoted keys, basic and literal strings, integers,
/// floats, booleans, arrays and inline tables. Multi-line strings and dates are refused with a
/// clear error rather than misread: authd has no option that needs them.
package enum TOMLDocument {
    package static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var parser = TOMLParser(bytes: Array(text.utf8))
        return try parser.parseDocument()
    }
}

private struct TOMLParser {
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var root = TOMLTable()
    /// The path of the table that key/value lines currently go into, and whether it is the last
    /// element of an array of tables.
    var currentPath: [String] = []
    var definedTables: Set<[String]> = []
    /// How deep arrays and inline tables nest at this point. Bounded, because the parser recurses:
    /// a file of nothing but `[` must be an error, not a stack overflow (found by `make fuzz`).
    var depth = 0
    static let maximumDepth = 32

    init(bytes: [UInt8]) { self.bytes = bytes }

    func fail(_ reason: String) -> TOMLError { TOMLError(line: line, reason: reason) }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipSpaces() {
        while let byte = peek, byte == 0x20 || byte == 0x09 { index += 1 }
    }

    mutating func skipComment() {
        if peek == UInt8(ascii: "#") {
            while let byte = peek, byte != 0x0A { index += 1 }
        }
    }

    /// Skips white space, comments and newlines (inside arrays and between statements).
    mutating func skipBlank() {
        while let byte = peek {
            if byte == 0x20 || byte == 0x09 || byte == 0x0D {
                index += 1
            } else if byte == 0x0A {
                index += 1
                line += 1
            } else if byte == UInt8(ascii: "#") {
                skipComment()
            } else {
                return
            }
        }
    }

    mutating func endOfLine() throws(TOMLError) {
        skipSpaces()
        skipComment()
        if peek == 0x0D { index += 1 }
        guard let byte = peek else { return }
        guard byte == 0x0A else { throw fail("unexpected text after a value") }
    }

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        while true {
            skipBlank()
            guard let byte = peek else { return root }
            if byte == UInt8(ascii: "[") {
                try parseTableHeader()
            } else {
                let (path, value) = try parseKeyValue()
                try insert(value, at: currentPath, key: path)
            }
            try endOfLine()
        }
    }

    mutating func parseTableHeader() throws(TOMLError) {
        index += 1
        let isArray = peek == UInt8(ascii: "[")
        if isArray { index += 1 }
        skipSpaces()
        let path = try parseKey()
        skipSpaces()
        guard peek == UInt8(ascii: "]") else { throw fail("expected ']' to close the table header") }
        index += 1
        if isArray {
            guard peek == UInt8(ascii: "]") else { throw fail("expected ']]' to close the array-of-tables header") }
            index += 1
            try appendArrayTable(at: path)
        } else {
            guard definedTables.insert(path).inserted else { throw fail("table [\(path.joined(separator: "."))] is defined twice") }
            try ensureTable(at: path)
        }
        currentPath = path
    }

    mutating func parseKey() throws(TOMLError) -> [String] {
        var path: [String] = []
        while true {
            skipSpaces()
            guard let byte = peek else { throw fail("expected a key") }
            if byte == UInt8(ascii: "\"") {
                path.append(try parseBasicString())
            } else if byte == UInt8(ascii: "'") {
                path.append(try parseLiteralString())
            } else {
                let start = index
                while let next = peek, isBareKeyByte(next) { index += 1 }
                guard index > start else { throw fail("expected a key") }
                path.append(String(decoding: bytes[start..<index], as: UTF8.self))
            }
            skipSpaces()
            guard peek == UInt8(ascii: ".") else { return path }
            index += 1
        }
    }

    func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    mutating func parseKeyValue() throws(TOMLError) -> ([String], TOMLValue) {
        let path = try parseKey()
        skipSpaces()
        guard peek == UInt8(ascii: "=") else { throw fail("expected '=' after key '\(path.joined(separator: "."))'") }
        index += 1
        skipSpaces()
        return (path, try parseValue())
    }

    mutating func parseValue() throws(TOMLError) -> TOMLValue {
        guard let byte = peek else { throw fail("expected a value") }
        switch byte {
        case UInt8(ascii: "\""):
            if bytes[index...].starts(with: "\"\"\"".utf8) { throw fail("multi-line strings are not supported") }
            return .string(try parseBasicString())
        case UInt8(ascii: "'"):
            if bytes[index...].starts(with: "'''".utf8) { throw fail("multi-line strings are not supported") }
            return .string(try parseLiteralString())
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            guard depth < Self.maximumDepth else { throw fail("arrays and inline tables nest deeper than \(Self.maximumDepth)") }
            depth += 1
            defer { depth -= 1 }
            return byte == UInt8(ascii: "[") ? .array(try parseArray()) : .table(try parseInlineTable())
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            if bytes[index...].starts(with: "true".utf8) {
                index += 4
                return .boolean(true)
            }
            if bytes[index...].starts(with: "false".utf8) {
                index += 5
                return .boolean(false)
            }
            throw fail("invalid value")
        default: return try parseNumber()
        }
    }

    mutating func parseNumber() throws(TOMLError) -> TOMLValue {
        let start = index
        while let byte = peek, !(byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == UInt8(ascii: ",")
            || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "#"))
        {
            index += 1
        }
        let raw = String(decoding: bytes[start..<index], as: UTF8.self)
        guard !raw.isEmpty else { throw fail("expected a value") }
        if raw.contains(":") || (raw.filter { $0 == "-" }.count >= 2) { throw fail("dates and times are not supported") }
        if raw.hasPrefix("_") || raw.hasSuffix("_") || raw.contains("__") { throw fail("invalid number '\(raw)'") }
        let digits = raw.replacingUnderscores()
        if let integer = Int64(digits) {
            let unsigned = digits.hasPrefix("+") || digits.hasPrefix("-") ? String(digits.dropFirst()) : digits
            if unsigned.count > 1, unsigned.hasPrefix("0") { throw fail("leading zeros are not allowed in '\(raw)'") }
            return .integer(integer)
        }
        if digits.allSatisfy({ $0.isNumber || $0 == "+" || $0 == "-" }) { throw fail("integer '\(raw)' is out of range") }
        if let float = Double(digits), float.isFinite, digits.first?.isLetter == false, !digits.hasSuffix(".") {
            return .float(float)
        }
        throw fail("invalid value '\(raw)' (strings need quotes)")
    }

    mutating func parseBasicString() throws(TOMLError) -> String {
        index += 1
        var output: [UInt8] = []
        while let byte = peek {
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: output, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
                return string
            case UInt8(ascii: "\\"):
                guard let escape = peek else { throw fail("unterminated string") }
                index += 1
                switch escape {
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "\""): output.append(0x22)
                case UInt8(ascii: "\\"): output.append(0x5C)
                case UInt8(ascii: "u"): output.append(contentsOf: try parseUnicodeEscape(length: 4))
                case UInt8(ascii: "U"): output.append(contentsOf: try parseUnicodeEscape(length: 8))
                default: throw fail("invalid escape in string")
                }
            case 0x0A: throw fail("unterminated string")
            case 0..<0x20 where byte != 0x09, 0x7F: throw fail("control character in string")
            default: output.append(byte)
            }
        }
        throw fail("unterminated string")
    }

    mutating func parseUnicodeEscape(length: Int) throws(TOMLError) -> [UInt8] {
        guard bytes.count - index >= length,
            let code = UInt32(String(decoding: bytes[index..<index + length], as: UTF8.self), radix: 16),
            let scalar = Unicode.Scalar(code)
        else { throw fail("invalid unicode escape") }
        index += length
        return Array(String(Character(scalar)).utf8)
    }

    mutating func parseLiteralString() throws(TOMLError) -> String {
        index += 1
        let start = index
        while let byte = peek, byte != UInt8(ascii: "'") {
            guard byte != 0x0A else { throw fail("unterminated string") }
            index += 1
        }
        guard peek != nil else { throw fail("unterminated string") }
        guard let string = String(validating: bytes[start..<index], as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
        index += 1
        return string
    }

    mutating func parseArray() throws(TOMLError) -> [TOMLValue] {
        index += 1
        var elements: [TOMLValue] = []
        while true {
            skipBlank()
            guard let byte = peek else { throw fail("unterminated array") }
            if byte == UInt8(ascii: "]") {
                index += 1
                return elements
            }
            elements.append(try parseValue())
            skipBlank()
            if peek == UInt8(ascii: ",") {
                index += 1
            } else if peek != UInt8(ascii: "]") {
                throw fail("expected ',' or ']' in array")
            }
        }
    }

    mutating func parseInlineTable() throws(TOMLError) -> TOMLTable {
        index += 1
        var table = TOMLTable()
        skipSpaces()
        if peek == UInt8(ascii: "}") {
            index += 1
            return table
        }
        while true {
            skipSpaces()
            let (path, value) = try parseKeyValue()
            try Self.insert(value, into: &table, path: path, line: line)
            skipSpaces()
            guard let byte = peek else { throw fail("unterminated inline table") }
            index += 1
            if byte == UInt8(ascii: "}") { return table }
            guard byte == UInt8(ascii: ",") else { throw fail("expected ',' or '}' in inline table") }
        }
    }

    // MARK: Building the tree

    mutating func insert(_ value: TOMLValue, at tablePath: [String], key: [String]) throws(TOMLError) {
        let line = self.line
        try Self.modify(&root, path: tablePath, line: line) { table throws(TOMLError) in
            try Self.insert(value, into: &table, path: key, line: line)
        }
    }

    static func insert(_ value: TOMLValue, into table: inout TOMLTable, path: [String], line: Int) throws(TOMLError) {
        if path.count == 1 {
            guard table[path[0]] == nil else { throw TOMLError(line: line, reason: "key '\(path[0])' is defined twice") }
            table[path[0]] = value
            return
        }
        try modify(&table, path: [path[0]], line: line) { nested throws(TOMLError) in
            try insert(value, into: &nested, path: Array(path.dropFirst()), line: line)
        }
    }

    /// Runs `body` on the table at `path`, creating intermediate tables and descending into the
    /// last element of an array of tables.
    static func modify(
        _ table: inout TOMLTable, path: [String], line: Int, _ body: (inout TOMLTable) throws(TOMLError) -> Void
    ) throws(TOMLError) {
        guard let first = path.first else {
            try body(&table)
            return
        }
        let rest = Array(path.dropFirst())
        switch table[first] {
        case nil:
            var nested = TOMLTable()
            try modify(&nested, path: rest, line: line, body)
            table[first] = .table(nested)
        case .table(var nested)?:
            try modify(&nested, path: rest, line: line, body)
            table[first] = .table(nested)
        case .array(var elements)? where elements.last.map({ if case .table = $0 { true } else { false } }) == true:
            guard case .table(var nested) = elements[elements.count - 1] else { return }
            try modify(&nested, path: rest, line: line, body)
            elements[elements.count - 1] = .table(nested)
            table[first] = .array(elements)
        default:
            throw TOMLError(line: line, reason: "key '\(first)' is not a table")
        }
    }

    mutating func ensureTable(at path: [String]) throws(TOMLError) {
        try Self.modify(&root, path: path, line: line) { _ throws(TOMLError) in }
    }

    mutating func appendArrayTable(at path: [String]) throws(TOMLError) {
        let line = self.line
        let parent = Array(path.dropLast())
        let name = path[path.count - 1]
        try Self.modify(&root, path: parent, line: line) { table throws(TOMLError) in
            switch table[name] {
            case nil: table[name] = .array([.table(TOMLTable())])
            case .array(var elements)?:
                elements.append(.table(TOMLTable()))
                table[name] = .array(elements)
            default: throw TOMLError(line: line, reason: "key '\(name)' is not an array of tables")
            }
        }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
