@testable import AuthdServer
import Foundation
import Logging
import Testing

@Suite("The standard-error log handler writes swift-log's StreamLogHandler line, one write per line")
struct StandardErrorLogHandlerTests {
    /// What `strftime("%Y-%m-%dT%H:%M:%S%z")` makes of `local`: the format StreamLogHandler uses.
    static func strftimeText(_ local: tm) -> String {
        var local = local
        var buffer = [Int8](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test("the timestamp is strftime's, east and west of Greenwich and in years of fewer digits")
    func timestamps() {
        for (offset, year) in [(0, 2026), (5 * 3600 + 30 * 60, 2026), (-(9 * 3600 + 30 * 60), 1999), (14 * 3600, 987), (-12 * 3600, 2106)] {
            var local = tm()
            local.tm_year = Int32(year - 1900)
            local.tm_mon = 11
            local.tm_mday = 1
            local.tm_hour = 7
            local.tm_min = 5
            local.tm_sec = 9
            local.tm_gmtoff = offset
            let ours = String(decoding: StandardErrorLogHandler.TimestampCache.format(local: local), as: UTF8.self)
            #expect(ours == Self.strftimeText(local))
        }
    }

    @Test("a line as StreamLogHandler writes it: level, label, metadata sorted by key (the call's over the provider's over the handler's), source, message")
    func line() throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        var handler = StandardErrorLogHandler(
            label: "authd", descriptor: descriptors[1], metadataProvider: .init { ["p": "provided", "z": "provided", "c.provided": "kept"] })
        handler.metadata = ["b.handler": "kept", "p": "overridden", "z": "overridden"]
        let before = time(nil)
        handler.log(
            event: LogEvent(
                level: .notice, message: "token issued", metadata: ["z": "1", "a.first": "x y"], source: "AuthdServer", file: #fileID,
                function: #function, line: #line))
        let after = time(nil)
        close(descriptors[1])
        let output = String(decoding: FileHandle(fileDescriptor: descriptors[0]).readDataToEndOfFile(), as: UTF8.self)
        let stamps = Set([before, after].map { String(decoding: StandardErrorLogHandler.TimestampCache.format($0), as: UTF8.self) })
        let rest = " notice authd: a.first=x y b.handler=kept c.provided=kept p=provided z=1 [AuthdServer] token issued\n"
        #expect(stamps.contains { output == $0 + rest }, "\(output)")
    }

    @Test("on a descriptor left non-blocking, a line larger than a full pipe waits for room and arrives whole, after what was there")
    func fullNonBlockingPipe() throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        let (reader, writer) = (descriptors[0], descriptors[1])
        #expect(fcntl(writer, F_SETFL, fcntl(writer, F_GETFL) | O_NONBLOCK) == 0)
        // Fill the pipe until the kernel refuses more: the line's first write meets EAGAIN.
        let filler = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        var filled = 0
        while true {
            let written = filler.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            filled += written
        }
        #expect(errno == EAGAIN)
        // Several pipes' worth, so it also goes out in parts.
        let large = String(repeating: "y", count: 300_000)
        let handler = StandardErrorLogHandler(label: "authd", descriptor: writer)
        let logging = Thread {
            handler.log(
                event: LogEvent(
                    level: .info, message: "token issued", metadata: ["big": .string(large)], source: "AuthdServer", file: #fileID,
                    function: #function, line: #line))
            close(writer)
        }
        logging.start()
        let output = FileHandle(fileDescriptor: reader).readDataToEndOfFile()
        #expect(output.count > filled)
        #expect(output.prefix(filled).allSatisfy { $0 == UInt8(ascii: "x") })
        let line = String(decoding: output.dropFirst(filled), as: UTF8.self)
        // Compared before the expectation, so that a failure does not print 300 kB.
        let whole = line.hasSuffix(" info authd: big=\(large) [AuthdServer] token issued\n")
        #expect(whole, "\(line.count) characters after the filler: \(line.prefix(40))…\(line.suffix(40))")
    }
}
