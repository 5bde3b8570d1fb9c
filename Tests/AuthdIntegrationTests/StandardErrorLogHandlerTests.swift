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

    @Test("a line as StreamLogHandler writes it: level, label, metadata sorted by key, source, message")
    func line() throws {
        var descriptors: [Int32] = [0, 0]
        #expect(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        var handler = StandardErrorLogHandler(label: "authd", descriptor: descriptors[1])
        handler.metadata = ["b.handler": "kept", "z": "overridden"]
        let before = time(nil)
        handler.log(
            event: LogEvent(
                level: .notice, message: "token issued", metadata: ["z": "1", "a.first": "x y"], source: "AuthdServer", file: #fileID,
                function: #function, line: #line))
        let after = time(nil)
        close(descriptors[1])
        let output = String(decoding: FileHandle(fileDescriptor: descriptors[0]).readDataToEndOfFile(), as: UTF8.self)
        let stamps = Set([before, after].map { String(decoding: StandardErrorLogHandler.TimestampCache.format($0), as: UTF8.self) })
        let rest = " notice authd: a.first=x y b.handler=kept z=1 [AuthdServer] token issued\n"
        #expect(stamps.contains { output == $0 + rest }, "\(output)")
    }
}
