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
