import CSystemd
public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A swift-log handler that writes to the systemd journal natively (`sd_journal_sendv(3)`), so that
/// every metadata key becomes a field operators can filter on: `authd.op` becomes `AUTHD_OP`, and
/// the reserved key ``messageIDKey`` becomes the journal's `MESSAGE_ID`.
///
/// Values are sent as they are but with control characters escaped (`\n` as `\\n`), so a value can
/// never smuggle in a field of its own or break a log line.
public struct JournalLogHandler: LogHandler {
    /// The metadata key whose value becomes `MESSAGE_ID`.
    public static let messageIDKey = "authd.message_id"

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let identifier: String

    /// A handler that tags entries with `SYSLOG_IDENTIFIER=identifier`.
    public init(identifier: String = "authd", metadataProvider: Logger.MetadataProvider? = nil) {
        self.identifier = identifier
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String] = [
            "MESSAGE=" + Self.escape(event.message.description),
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=" + identifier,
            "CODE_FILE=" + Self.escape(event.file),
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=" + Self.escape(event.function),
        ]
        // The call's metadata wins over the provider's, which wins over the handler's. Merged in
        // that order, the common case (an audit line: metadata only from the call) is not copied.
        var merged = event.metadata ?? [:]
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { kept, _ in kept } }
        if !metadata.isEmpty { merged.merge(metadata) { kept, _ in kept } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            let name = key == Self.messageIDKey ? "MESSAGE_ID" : Self.fieldName(key)
            fields.append(name + "=" + Self.escape(value.description))
        }
        Self.send(fields)
    }

    /// Sends fields with `sd_journal_sendv`: Swift cannot call the variadic `sd_journal_send`.
    /// The fields are laid end to end in one buffer, and the vectors point into it only while
    /// it is pinned for the call.
    static func send(_ fields: [String]) {
        var storage: [UInt8] = []
        storage.reserveCapacity(fields.reduce(0) { $0 + $1.utf8.count })
        var ends: [Int] = []
        ends.reserveCapacity(fields.count)
        for field in fields {
            storage.append(contentsOf: field.utf8)
            ends.append(storage.count)
        }
        storage.withUnsafeMutableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            var vectors: [iovec] = []
            vectors.reserveCapacity(ends.count)
            var start = 0
            for end in ends {
                vectors.append(iovec(iov_base: base + start, iov_len: end - start))
                start = end
            }
            _ = vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }

    /// `authd.peer-uid` → `AUTHD_PEER_UID`: journal field names allow only `A-Z`, `0-9` and `_`,
    /// and may not start with `_` (those are trusted fields the journal sets itself).
    static func fieldName(_ key: String) -> String {
        var name: [UInt8] = []
        name.reserveCapacity(key.utf8.count)
        for scalar in key.unicodeScalars {
            switch scalar {
            case "a"..."z": name.append(UInt8(scalar.value - 32))
            case "A"..."Z", "0"..."9": name.append(UInt8(scalar.value))
            default: name.append(UInt8(ascii: "_"))
            }
        }
        let start = name.firstIndex { $0 != UInt8(ascii: "_") } ?? name.endIndex
        var field = String(decoding: name[start...].prefix(64), as: UTF8.self)
        if field.isEmpty || field.utf8.first!.isDigit { field = String(("AUTHD_" + field).prefix(64)) }
        return field
    }

    /// Control characters as escapes, so one value stays one value on one line.
    static func escape(_ value: String) -> String {
        // Most values have nothing to escape: they are sent as they are, not rebuilt.
        guard value.utf8.contains(where: { $0 < 0x20 || $0 == 0x5C || $0 == 0x7F }) else { return value }
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar.value {
            case 0x0A: escaped += "\\n"
            case 0x0D: escaped += "\\r"
            case 0x09: escaped += "\\t"
            case 0x5C: escaped += "\\\\"
            case 0..<0x20, 0x7F: escaped += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Whether standard error is connected to the journal (`JOURNAL_STREAM` names its device and
    /// inode), which is how systemd says "log natively, I am listening".
    public static var isStandardErrorJournal: Bool {
        guard let value = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: value).split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}

extension UInt8 {
    fileprivate var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
