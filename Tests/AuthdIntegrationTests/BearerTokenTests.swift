@testable import AuthdServer
import Testing

/// `Authorization: Bearer …` as the HTTP face reads it, byte by byte, against the reading it
/// replaced (split at the first space, the scheme compared without case, the rest trimmed of
/// spaces and tabs).
@Suite("The bearer token of an Authorization header")
struct BearerTokenTests {
    /// The previous reading, by characters: the oracle.
    static func reference(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        var token = parts[1]
        while token.first == " " || token.first == "\t" { token = token.dropFirst() }
        while token.last == " " || token.last == "\t" { token = token.dropLast() }
        return token.isEmpty ? nil : String(token)
    }

    @Test("the cases a proxy sends, and the malformed ones, read as before")
    func cases() {
        let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
        let headers = [
            "Bearer \(token)", "bearer \(token)", "BEARER \(token)", "Bearer  \(token) ", "  Bearer \(token)", "Bearer \t\(token)\t",
            "Bearer", "Bearer ", "Bearer   ", "Basic \(token)", "Bearer\t\(token)", "Bearer \(token) extra", "Bearerx \(token)",
            "", " ", "Bearer é\(token)", "Béarer \(token)", "Bearer \r\n\(token)",
        ]
        for header in headers {
            #expect(ForwardAuth.bearerToken(header) == Self.reference(header), "\(header.debugDescription)")
        }
        #expect(ForwardAuth.bearerToken("Bearer  \(token) ") == token)
        #expect(ForwardAuth.bearerToken("Bearer") == nil)
    }

    @Test("random headers of spaces, tabs, letters and a few others read as before")
    func random() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [Character] = [" ", " ", "\t", "B", "b", "e", "a", "r", "E", "A", "R", "x", ".", "é", "\r"]
        for _ in 0..<5000 {
            let length = Int.random(in: 0...14, using: &generator)
            var header = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            if Bool.random(using: &generator) { header = (Bool.random(using: &generator) ? "Bearer " : " bearer\t ") + header }
            #expect(ForwardAuth.bearerToken(header) == Self.reference(header), "\(header.debugDescription)")
        }
    }
}
