@testable import AuthdCore
import AuthdProtocol
import Testing

@Suite("Other fleet nodes' keys: nothing a database row says is taken on trust")
struct FleetKeysTests {
    static func published(_ key: SigningKey, jwk: JSONObject? = nil) -> PublishedKey {
        PublishedKey(kid: key.kid, jwk: jwk ?? key.publicJWK!, createdAt: key.createdAt, expiresAt: nil, node: "other")
    }

    @Test("a published Ed25519 or P-256 key verifies; a forged kid, a swapped algorithm or junk is refused")
    func peerKeys() throws {
        let ed = SigningKey.generate(.edDSA, createdAt: 100)
        let ec = SigningKey.generate(.es256, createdAt: 200)
        let keys = FleetKeys(health: FleetHealth(configuration: .init(endpoint: .tcp(host: "db", port: 5432), user: "authd", database: "authd", node: "me"), appliedSequence: 0, clock: ManualUnixClock(0)))

        var forged = ed.publicJWK!
        forged["kid"] = .string(ec.kid)
        var swapped = ec.publicJWK!
        swapped["alg"] = "EdDSA"
        var junk = ed.publicJWK!
        junk["x"] = "not-a-key"
        let refused = keys.installPeers(
            [Self.published(ed), Self.published(ec), PublishedKey(kid: ec.kid, jwk: forged, createdAt: 1, expiresAt: nil, node: "x"),
             PublishedKey(kid: "swapped", jwk: swapped, createdAt: 1, expiresAt: nil, node: "x"),
             PublishedKey(kid: ed.kid + "x", jwk: junk, createdAt: 1, expiresAt: nil, node: "x")],
            ownKeyIDs: [])
        // The forged row claims ec's kid with ed's key: refused, and ec's own row still stands.
        #expect(Set(refused) == [ec.kid, "swapped", ed.kid + "x"])
        #expect(keys.peerKeyIDs == [ed.kid, ec.kid])
        #expect(keys.peer(withID: ed.kid)?.algorithm == .edDSA)
        let input = Array("header.payload".utf8)
        let signature = try ed.sign(input)
        let valid = input.withUnsafeBytes { keys.peer(withID: ed.kid)!.isValidSignature(signature, for: $0) }
        #expect(valid)
        // A peer key never signs here.
        #expect(throws: (any Error).self) { try keys.peer(withID: ed.kid)!.sign(input) }
        // This node's own keys are never taken from the database.
        #expect(keys.installPeers([Self.published(ed)], ownKeyIDs: [ed.kid]).isEmpty)
        #expect(keys.peer(withID: ed.kid) == nil)
    }
}
