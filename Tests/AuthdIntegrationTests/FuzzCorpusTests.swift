import AuthdFuzzing
import Foundation
import Testing

/// Every input in `Fuzz/corpus/` (seeds, and every crash `make fuzz` ever found, kept there) goes
/// through its fuzz target on every `make test`.
@Suite("Fuzz corpus replay: every committed input, every run")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    static func inputs(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
        let directory = corpus.appendingPathComponent(target)
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map { name in
            (name, Array(try Data(contentsOf: directory.appendingPathComponent(name))))
        }
    }

    @Test("request-line corpus")
    func requestLine() throws {
        let inputs = try Self.inputs("request-line")
        #expect(inputs.count >= 10)
        for input in inputs {
            #expect(throws: Never.self, "\(input.name)") { try FuzzTargets.requestLine(input.bytes) }
        }
    }

    @Test("token corpus; the seed tokens still verify at the harness's fixed time")
    func token() throws {
        let inputs = try Self.inputs("token")
        #expect(inputs.count >= 10)
        for input in inputs {
            #expect(throws: Never.self, "\(input.name)") { try FuzzTargets.token(input.bytes) }
            if input.name.hasPrefix("seed-valid") {
                #expect(FuzzTargets.verifies(String(decoding: input.bytes, as: UTF8.self)), "\(input.name)")
            }
        }
    }

    @Test("config corpus")
    func config() throws {
        let inputs = try Self.inputs("config")
        #expect(inputs.count >= 5)
        for input in inputs {
            #expect(throws: Never.self, "\(input.name)") { try FuzzTargets.config(input.bytes) }
        }
    }
}
