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

    @Test("random lines, some over the limit, split into reads at random: decoded exactly as written")
    func randomRequestLines() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<400 {
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 0...6, using: &generator) {
                // The harness's limit is 256: a few lines pass it.
                let length = Int.random(in: 0...16, using: &generator) == 0 ? Int.random(in: 200...300, using: &generator) : Int.random(in: 0...40, using: &generator)
                input += (0..<length).map { _ in UInt8.random(in: 0x20...0x7E, using: &generator) }
                if Int.random(in: 0...5, using: &generator) > 0 { input.append(0x0A) }
            }
            // 0xFF splits the input into reads.
            for _ in 0..<Int.random(in: 0...8, using: &generator) {
                input.insert(0xFF, at: Int.random(in: 0...input.count, using: &generator))
            }
            #expect(throws: Never.self, "\(input)") { try FuzzTargets.requestLine(input) }
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
