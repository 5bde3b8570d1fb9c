@testable import AuthdCore
import AuthdProtocol
import Logging
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

    @Test("a JWKS may be cached until the next key is due: this node's or, sooner, a peer's")
    func jwksLifetime() throws {
        let start: Int64 = 1_800_000_000
        let clock = ManualUnixClock(start)
        let fleet = FleetKeys(health: FleetHealth(
            configuration: .init(endpoint: .tcp(host: "db", port: 5432), user: "authd", database: "authd", node: "me"),
            appliedSequence: 0, clock: clock))
        var configuration = TokenConfiguration()
        configuration.keyRotationInterval = 3600
        let service = try TokenService(
            configuration: configuration, stateDirectory: TemporaryDirectory().path, clock: clock, fleet: fleet, logger: Logger(label: "t"))
        // Only this node's key: due an hour after it was made, capped by the limit.
        #expect(service.jwksLifetime(limit: 7200) == 3600)
        #expect(service.jwksLifetime(limit: 600) == 600)
        // A peer whose newest key is 50 minutes old publishes its next in 10.
        let peer = SigningKey.generate(.edDSA, createdAt: start - 3000)
        fleet.installPeers([Self.published(peer)], ownKeyIDs: Set(service.keyIDs))
        #expect(service.jwksLifetime(limit: 7200) == 600)
        // Past every due time: not cacheable at all (the next key may already be out).
        clock.advance(by: 3600)
        #expect(service.jwksLifetime(limit: 7200) == 0)
    }
}
