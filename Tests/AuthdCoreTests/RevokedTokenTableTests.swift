@testable import AuthdCore
import AuthdSQLiteStore
import Crypto
import Testing

@Suite("The denylist's token table: exact under every sequence of inserts and prunes")
struct RevokedTokenTableTests {
    /// A reproducible generator (SplitMix64), so that a failing sequence can be replayed.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// The key as it was computed before the table existed: the decoded bytes of a canonical
    /// 16-byte base64url id, else the first 16 bytes of the SHA-256 of its spelling.
    static func referenceKey(_ jti: String) -> Denylist.Key {
        var bytes = Base64URL.decode(jti) ?? []
        if bytes.count != 16 { bytes = Array(SHA256.hash(data: Array(jti.utf8)).prefix(16)) }
        let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Denylist.Key(high: high, low: low)
    }

    @Test("an id's key is its 16 decoded bytes when it is canonical base64url, else its hash", arguments: 0..<4)
    func keys(seed: UInt64) {
        var random = SeededGenerator(state: seed)
        for _ in 0..<500 {
            let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }
            let canonical = Base64URL.encode(bytes)
            #expect(Denylist.key(for: canonical) == Denylist.Key(
                high: bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }, low: bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }))
            // The same 22 characters with non-zero trailing bits, a character outside the
            // alphabet, another length, or not ASCII: each its own spelling, hashed.
            var trailing = Array(canonical.utf8)
            trailing[21] = Array("BCDEFGHIJKLMNOP".utf8)[Int.random(in: 0..<15, using: &random)]
            let others = [
                String(decoding: trailing, as: UTF8.self), String(canonical.dropLast()) + "=", canonical + "A",
                String(canonical.dropLast()), String(canonical.dropLast()) + "é", "fixture-jti-\(random.next())",
            ]
            for jti in [canonical] + others {
                #expect(Denylist.key(for: jti) == Self.referenceKey(jti), "\(jti)")
            }
            #expect(Set(others.map { Denylist.key(for: $0) }).count == others.count)
        }
    }

    @Test("inserts, lookups and prunes agree with a dictionary, through growth, wrap-around and shrinking", arguments: 0..<12)
    func agreesWithADictionary(seed: UInt64) {
        var random = SeededGenerator(state: seed)
        var table = RevokedTokenTable()
        var reference: [Denylist.Key: Int64] = [:]
        var seen: [Denylist.Key] = []
        var now: Int64 = 1_000
        for step in 0..<6_000 {
            switch UInt8.random(in: 0..<100, using: &random) {
            case 0..<70:
                // Mostly new keys, some again (a second revoke of one token), now and then the
                // all-zero key the table keeps aside.
                let key: Denylist.Key
                switch UInt8.random(in: 0..<20, using: &random) {
                case 0 where !seen.isEmpty: key = seen[Int.random(in: 0..<seen.count, using: &random)]
                case 1: key = Denylist.Key(high: 0, low: 0)
                default: key = Denylist.Key(high: random.next(), low: random.next())
                }
                let expiresAt = now + Int64.random(in: 1...400, using: &random)
                table.insert(key, expiresAt: expiresAt)
                reference[key] = max(reference[key] ?? expiresAt, expiresAt)
                seen.append(key)
            case 70..<72:
                // A batch, as a store's rows are loaded: new keys, repeats and the zero key mixed.
                let batch = (0..<Int.random(in: 1...150, using: &random)).map { _ -> (key: Denylist.Key, expiresAt: Int64) in
                    let key = UInt8.random(in: 0..<10, using: &random) == 0 && !seen.isEmpty
                        ? seen[Int.random(in: 0..<seen.count, using: &random)]
                        : UInt8.random(in: 0..<50, using: &random) == 0 ? Denylist.Key(high: 0, low: 0) : Denylist.Key(high: random.next(), low: random.next())
                    return (key, now + Int64.random(in: 1...400, using: &random))
                }
                table.insert(contentsOf: batch)
                for (key, expiresAt) in batch {
                    reference[key] = max(reference[key] ?? expiresAt, expiresAt)
                    seen.append(key)
                }
            case 72..<75:
                now += Int64.random(in: 0...300, using: &random)
                let expired = reference.filter { $0.value <= now }.count
                #expect(table.removeAll(expiredBy: now) == expired)
                reference = reference.filter { $0.value > now }
            default:
                let probe = Denylist.Key(high: random.next(), low: random.next())
                #expect(!table.contains(probe))
            }
            #expect(table.count == reference.count, "step \(step)")
            let inSlots = table.count - (reference[Denylist.Key(high: 0, low: 0)] == nil ? 0 : 1)  // the zero key is held aside
            #expect(table.capacity * 4 >= inSlots * 5, "at most 80 % of the slots full")
        }
        for key in Set(seen) {
            #expect(table.expiry(of: key) == reference[key], "\(key)")
        }
        #expect(table.removeAll(expiredBy: .max) == reference.count)
        #expect(table.isEmpty)
    }

    @Test("a table that pruning leaves mostly empty gives its memory back")
    func shrinks() {
        var table = RevokedTokenTable()
        var random = SeededGenerator(state: 5)
        let keys = (0..<10_000).map { _ in Denylist.Key(high: random.next(), low: random.next()) }
        for (index, key) in keys.enumerated() { table.insert(key, expiresAt: index < 100 ? 20 : 10) }
        let grown = table.capacity
        #expect(table.removeAll(expiredBy: 10) == 9_900)
        #expect(table.capacity == RevokedTokenTable.slots(for: 100) && table.capacity * 20 < grown)
        #expect(keys.prefix(100).allSatisfy { table.contains($0) } && !keys.dropFirst(100).contains { table.contains($0) })
    }

    @Test("a long run of neighbouring slots survives removals from its middle")
    func clusteredRemovals() {
        // Twenty slots' worth of keys in a table of a few dozen: runs wrap around its end.
        var random = SeededGenerator(state: 99)
        for _ in 0..<200 {
            var table = RevokedTokenTable(minimumCapacity: 20)
            let keys = (0..<20).map { _ in Denylist.Key(high: random.next(), low: random.next()) }
            let expiries = keys.map { _ in Int64.random(in: 1...3, using: &random) }
            for (key, expiresAt) in zip(keys, expiries) { table.insert(key, expiresAt: expiresAt) }
            table.removeAll(expiredBy: 2)
            for (key, expiresAt) in zip(keys, expiries) {
                #expect(table.contains(key) == (expiresAt > 2))
            }
        }
    }

    @Test("a million ids take at most 28 MiB (20 bytes a slot, at 70 % load)")
    func footprint() {
        #expect(RevokedTokenTable(minimumCapacity: 1_000_000).footprint <= 28 << 20)
        #expect(RevokedTokenTable(minimumCapacity: 10_000_000).footprint <= 280 << 20)
    }

    @Test("expiries beyond 2106 are held as the latest the table can say, never as expired")
    func farExpiries() {
        var table = RevokedTokenTable()
        table.insert(jti: "far", expiresAt: .max)
        #expect(table.removeAll(expiredBy: 4_000_000_000) == 0)
        #expect(table.contains(jti: "far"))
    }

    @Test("built from a store's rows, a table holds each id once at its latest expiry, made once at the size it is told")
    func buildFromRows() {
        // 5,000 rows naming 4,000 ids (the first 1,000 twice, the second time with an earlier
        // expiry, which must not replace the later one), and authd's spelling of sixteen zero
        // bytes, the key the table holds aside.
        let rows = (0..<5_000).map { ("id-\($0 % 4_000)", Int64(10_000 - $0)) } + [("AAAAAAAAAAAAAAAAAAAAAA", 7)]
        let table = RevokedTokenTable.build(expectedCount: rows.count) { add in
            for (jti, expiresAt) in rows { Array(jti.utf8).withUnsafeBytes { add($0, expiresAt) } }
        }
        #expect(table.count == 4_001)
        #expect(table.capacity == RevokedTokenTable.slots(for: rows.count), "grown while built")
        for index in 0..<4_000 {
            #expect(table.expiry(of: Denylist.key(for: "id-\(index)")) == Int64(10_000 - index))
        }
        #expect(table.expiry(of: Denylist.Key(high: 0, low: 0)) == 7)
        #expect(!table.contains(jti: "id-4000"))
    }

    @Test("a store's ids, authd's own and other spellings, load into the denylist exactly")
    func loadFromStore() async throws {
        let directory = TemporaryDirectory()
        let store = try SQLiteStore(stateDirectory: directory.path)
        var random = SeededGenerator(state: 7)
        let minted = (0..<3_000).map { _ in Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }) }
        // The last is authd's spelling of sixteen zero bytes: the key an empty slot would have.
        let foreign = (0..<1_000).map { "foreign-\($0)" } + ["AAAAAAAAAAAAAAAAAAAAAA"]
        let revoked = Array(minted.prefix(2_000)) + foreign.prefix(500) + ["AAAAAAAAAAAAAAAAAAAAAA"]
        try await store.record(revoked.map { .token(jti: $0, expiresAt: 2_000) } + [.token(jti: "expired", expiresAt: 900)])
        let denylist = Denylist()
        denylist.load(try await store.revocations(now: 1_000))
        #expect(denylist.count.tokens == revoked.count)
        let held = Set(revoked)
        for jti in minted + foreign + ["expired"] {
            #expect(denylist.isRevoked(jti: jti, subject: "s", issuedAt: 0) == held.contains(jti), "\(jti)")
        }
    }
}
