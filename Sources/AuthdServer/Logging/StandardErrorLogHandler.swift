public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// swift-log's `StreamLogHandler` line, on standard error, written the way a daemon that audits
/// every token it issues needs it written.
///
/// The line is the one `StreamLogHandler` writes (`<time> <level> <label>: <key=value…> [<source>]
/// <message>`, metadata sorted by key), so what operators and tests read does not change. What
/// does: each line is one `write(2)`, with no stdio lock for the event loops to contend for; and
/// the local time is formatted from `localtime_r` once a second, where `StreamLogHandler` calls
/// `localtime` and `strftime` for every line — not thread-safe, and glibc's `strftime` re-reads
/// the time zone, a `stat` of `/etc/localtime`, each time.
public struct StandardErrorLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let descriptor: Int32

    /// A handler for loggers labelled `label`, writing to `descriptor` (2, standard error, unless
    /// a test says otherwise).
    public init(label: String, descriptor: Int32 = 2, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.descriptor = descriptor
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // The call's metadata wins over the provider's, which wins over the handler's. Merged in
        // that order, the common case (an audit line: metadata only from the call) is not copied.
        var merged = event.metadata ?? [:]
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { kept, _ in kept } }
        if !metadata.isEmpty { merged.merge(metadata) { kept, _ in kept } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        var line: [UInt8] = []
        line.reserveCapacity(320)
        Self.clock.withLock { $0.append(now: time(nil), to: &line) }
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: label.utf8)
        line.append(UInt8(ascii: ":"))
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: key.utf8)
            line.append(UInt8(ascii: "="))
            line.append(contentsOf: value.description.utf8)
        }
        line.append(contentsOf: " [".utf8)
        line.append(contentsOf: event.source.utf8)
        line.append(contentsOf: "] ".utf8)
        line.append(contentsOf: event.message.description.utf8)
        line.append(UInt8(ascii: "\n"))
        Self.writeLine(line, to: descriptor)
    }

    /// The whole line, in as many writes as the descriptor takes (one, but for a signal or a
    /// full pipe).
    private static func writeLine(_ line: [UInt8], to descriptor: Int32) {
        line.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, base + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR {
                    continue
                } else if written < 0, errno == EAGAIN {
                    // A descriptor left non-blocking by whoever opened it: wait until it drains.
                    var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&ready, 1, -1)
                } else {
                    return  // closed or broken: nowhere to write, and nothing to tell
                }
            }
        }
    }

    private static let clock = Mutex(TimestampCache())

    /// The local time of the last second a line was logged in, formatted as `strftime`'s
    /// `%Y-%m-%dT%H:%M:%S%z` would.
    struct TimestampCache {
        private var second: time_t = -1
        private var text: [UInt8] = []

        mutating func append(now: time_t, to line: inout [UInt8]) {
            if now != second {
                second = now
                text = Self.format(now)
            }
            line.append(contentsOf: text)
        }

        static func format(_ instant: time_t) -> [UInt8] {
            var instant = instant
            var local = tm()
            guard localtime_r(&instant, &local) != nil else { return Array("<unknown>".utf8) }
            return format(local: local)
        }

        static func format(local: tm) -> [UInt8] {
            var text: [UInt8] = []
            func digits(_ value: Int, _ width: Int) {
                var scratch = [UInt8](repeating: UInt8(ascii: "0"), count: width)
                var value = value
                for index in stride(from: width - 1, through: 0, by: -1) {
                    scratch[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                text.append(contentsOf: scratch)
            }
            text.append(contentsOf: String(Int(local.tm_year) + 1900).utf8)  // %Y: as many digits as it has
            text.append(UInt8(ascii: "-"))
            digits(Int(local.tm_mon) + 1, 2)
            text.append(UInt8(ascii: "-"))
            digits(Int(local.tm_mday), 2)
            text.append(UInt8(ascii: "T"))
            digits(Int(local.tm_hour), 2)
            text.append(UInt8(ascii: ":"))
            digits(Int(local.tm_min), 2)
            text.append(UInt8(ascii: ":"))
            digits(Int(local.tm_sec), 2)
            let offset = Int(local.tm_gmtoff) / 60
            text.append(offset < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            digits(abs(offset) / 60, 2)
            digits(abs(offset) % 60, 2)
            return text
        }
    }
}
