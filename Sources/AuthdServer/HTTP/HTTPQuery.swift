/// A URL query string's parameters, percent-decoded (`+` is a space, as in forms).
///
/// `nil` for a query that is not well formed: a bad percent escape, or a name or value that does
/// not decode to UTF-8. The face answers 400 for it, never guesses.
struct HTTPQuery: Sendable {
    private(set) var parameters: [(name: String, value: String)] = []

    init?(_ query: Substring?) {
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), !name.isEmpty,
                let value = parts.count == 2 ? Self.decode(parts[1]) : ""
            else { return nil }
            parameters.append((name, value))
        }
    }

    /// Every value of `name`, in order.
    func values(_ name: String) -> [String] { parameters.filter { $0.name == name }.map(\.value) }

    /// Names present that are not in `known`.
    func unknownNames(_ known: Set<String>) -> [String] { parameters.map(\.name).filter { !known.contains($0) } }

    private static func decode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
