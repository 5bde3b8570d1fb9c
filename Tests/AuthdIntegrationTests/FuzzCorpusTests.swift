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

    @Test("http-head corpus: what the HTTP face's head reader takes, NIO's decoder reads the same way")
    func httpHead() throws {
        let inputs = try Self.inputs("http-head")
        #expect(inputs.count >= 10)
        var taken = 0
        for input in inputs {
            #expect(throws: Never.self, "\(input.name)") { if try FuzzTargets.httpHead(input.bytes) { taken += 1 } }
        }
        // The seeds hold both: heads a proxy sends, and heads that must go to the decoder.
        #expect(taken >= 3 && taken < inputs.count)
    }

    @Test("random heads of a proxy's pieces and stray bytes: what the head reader takes, NIO's decoder reads the same way")
    func randomHTTPHeads() {
        var generator = SystemRandomNumberGenerator()
        let lines = ["GET /auth HTTP/1.1", "HEAD /healthz?x=%41 HTTP/1.1", "POST /auth?role=a&role=b HTTP/1.1", "DELETE /a@b:c HTTP/1.1"]
        let fields = [
            "Host: authd", "Authorization: Bearer a.b.c", "authorization:bearer x ", "X-Empty:", "Cookie: s=t; u=v", "Content-Length: 0",
            "Connection: keep-alive", "CONNECTION: Keep-Alive", "X-Tab:\tv\t",
        ]
        let stray: [UInt8] = [0x20, 0x09, 0x0D, 0x0A, 0x3A, 0x00, 0x7F, 0xC3, 0x41, 0x2F, 0x3F, 0x23]
        var taken = 0
        for _ in 0..<2000 {
            var text = lines.randomElement(using: &generator)! + "\r\n"
            for _ in 0..<Int.random(in: 0...5, using: &generator) { text += fields.randomElement(using: &generator)! + "\r\n" }
            var input = Array((text + "\r\n").utf8)
            // Most inputs get a stray byte somewhere, a few are left as a proxy sends them.
            for _ in 0..<Int.random(in: 0...2, using: &generator) {
                input.insert(stray.randomElement(using: &generator)!, at: Int.random(in: 0...input.count, using: &generator))
            }
            #expect(throws: Never.self, "\(String(decoding: input, as: UTF8.self).debugDescription)") {
                if try FuzzTargets.httpHead(input) { taken += 1 }
            }
        }
        // The comparison only means something if the reader takes a good share.
        #expect(taken > 300, "\(taken) of 2000 taken")
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
