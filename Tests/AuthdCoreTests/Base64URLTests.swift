@testable import AuthdCore
import Foundation
import Testing

@Suite("Base64url: the encoder agrees with Foundation's; the decoder is canonical")
struct Base64URLTests {
    @Test("every length from 0 to 70 bytes round-trips and matches Foundation's unpadded base64url")
    func matchesFoundation() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let reference = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let encoded = Base64URL.encode(bytes)
            #expect(encoded == reference, "length \(length)")
            #expect(Base64URL.decode(encoded) == bytes, "length \(length)")
            // A non-array sequence takes the same path.
            #expect(Base64URL.encode(bytes.lazy.map { $0 }) == reference)
        }
    }

    /// The decoder as it was, a character at a time: the reference the faster one must agree with.
    static func referenceDecode(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for character in text {
            let value = Base64URL.decodeTable[Int(character)]
            guard value != 0xFF else { return nil }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        guard buffer & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return output
    }

    @Test("the decoder agrees with the character-at-a-time reference on 20,000 random inputs, valid or not")
    func decoderAgreesWithReference() {
        var generator = SystemRandomNumberGenerator()
        // Mostly the alphabet, so that most inputs get far; now and then a character outside it
        // (the standard alphabet's, padding, a space, a control byte, a non-ASCII byte) anywhere.
        let outside: [UInt8] = Array("+/= .\n".utf8) + [0x00, 0x7F, 0x80, 0xC3, 0xFF]
        var decoded = 0
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...48, using: &generator)
            let text = (0..<length).map { _ -> UInt8 in
                Int.random(in: 0..<40, using: &generator) == 0
                    ? outside.randomElement(using: &generator)!
                    : Base64URL.encode([UInt8.random(in: 0...255, using: &generator)]).utf8.first!
            }
            let expected = Self.referenceDecode(text)
            #expect(Base64URL.decode(text) == expected, "\(text)")
            // A collection without contiguous storage takes the copying path.
            #expect(Base64URL.decode(text.lazy.map { $0 }) == expected)
            if expected != nil { decoded += 1 }
        }
        // Both kinds were exercised: inputs that decode and inputs that are refused.
        #expect(decoded > 2_000 && decoded < 18_000, "\(decoded) of 20,000 decoded")
    }

    @Test("secure random bytes: the requested count, and not all the same")
    func randomBytes() {
        for count in [0, 1, 16, 32, 300] {
            let bytes = secureRandomBytes(count)
            #expect(bytes.count == count)
            if count >= 16 { #expect(Set(bytes).count > 4) }
        }
        #expect(secureRandomBytes(16) != secureRandomBytes(16))
    }
}
