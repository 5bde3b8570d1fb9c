import AuthdProtocol

/// Reads one table of the configuration file, naming the full key (`tokens.ttl`) in every error and
/// refusing keys it does not know, so that a typo is reported instead of silently ignored.
struct ConfigTableReader {
    private let table: TOMLTable
    private let prefix: String
    private var consumed: Set<String> = []

    init(_ table: TOMLTable, prefix: String) {
        self.table = table
        self.prefix = prefix
    }

    func name(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    func invalid(_ key: String, _ reason: String) -> StartupError {
        StartupError("invalid configuration: \(name(key)): \(reason)")
    }

    mutating func raw(_ key: String) -> TOMLValue? {
        consumed.insert(key)
        return table[key]
    }

    mutating func table(_ key: String) throws(StartupError) -> ConfigTableReader {
        switch raw(key) {
        case nil: return ConfigTableReader(TOMLTable(), prefix: name(key))
        case .table(let nested)?: return ConfigTableReader(nested, prefix: name(key))
        case let other?: throw invalid(key, "expected a table, found \(other.typeName)")
        }
    }

    mutating func string(_ key: String, default fallback: String) throws(StartupError) -> String {
        try optionalString(key) ?? fallback
    }

    mutating func optionalString(_ key: String) throws(StartupError) -> String? {
        switch raw(key) {
        case nil: return nil
        case .string(let value)?: return value
        case let other?: throw invalid(key, "expected a string, found \(other.typeName)")
        }
    }

    mutating func integer(_ key: String, default fallback: Int64, in range: ClosedRange<Int64>) throws(StartupError) -> Int64 {
        let value: Int64
        switch raw(key) {
        case nil: return fallback
        case .integer(let number)?: value = number
        case let other?: throw invalid(key, "expected an integer, found \(other.typeName)")
        }
        guard range.contains(value) else { throw invalid(key, "\(value) is outside \(range.lowerBound)...\(range.upperBound)") }
        return value
    }

    /// A duration: an integer number of seconds, or a string such as `"90s"`, `"15m"`, `"1h30m"`, `"7d"`.
    mutating func duration(_ key: String, default fallback: Int64, in range: ClosedRange<Int64>) throws(StartupError) -> Int64 {
        let seconds: Int64
        switch raw(key) {
        case nil: return fallback
        case .integer(let number)?: seconds = number
        case .string(let text)?:
            guard let parsed = DurationText.seconds(text) else {
                throw invalid(key, "'\(text)' is not a duration (use seconds, or a string like \"15m\", \"1h30m\", \"7d\")")
            }
            seconds = parsed
        case let other?: throw invalid(key, "expected a duration, found \(other.typeName)")
        }
        guard range.contains(seconds) else {
            throw invalid(key, "\(seconds) s is outside \(range.lowerBound)...\(range.upperBound) s")
        }
        return seconds
    }

    /// An array of tables (`[[name]]`), each with its own reader.
    mutating func tables(_ key: String) throws(StartupError) -> [ConfigTableReader] {
        switch raw(key) {
        case nil: return []
        case .array(let elements)?:
            var readers: [ConfigTableReader] = []
            for (index, element) in elements.enumerated() {
                guard case .table(let table) = element else { throw invalid(key, "expected tables ([[\(name(key))]])") }
                readers.append(ConfigTableReader(table, prefix: "\(name(key))[\(index)]"))
            }
            return readers
        case let other?: throw invalid(key, "expected an array of tables, found \(other.typeName)")
        }
    }

    /// An optional array of strings.
    mutating func optionalStrings(_ key: String) throws(StartupError) -> [String]? {
        switch raw(key) {
        case nil: return nil
        case .array(let elements)?:
            var strings: [String] = []
            for element in elements {
                guard case .string(let text) = element else { throw invalid(key, "expected an array of strings") }
                strings.append(text)
            }
            return strings
        case let other?: throw invalid(key, "expected an array of strings, found \(other.typeName)")
        }
    }

    func finish() throws(StartupError) {
        for entry in table.entries where !consumed.contains(entry.key) {
            throw StartupError("invalid configuration: unknown key '\(name(entry.key))'")
        }
    }
}
