public import AuthdProtocol
import Synchronization

/// What a token's signature and structure proved, kept so the next `verify` of the same token
/// skips the signature check. Nothing time-dependent or revocable is decided here: expiry, `nbf`,
/// the denylist, the audience and the roles are checked on every request, hit or miss.
public struct VerifiedToken: Sendable {
    /// The result `verify` returns.
    public let result: VerifyResult
    /// `result` as the compact JSON of a reply's `result` member, encoded once: a hit answers
    /// without building or encoding the object again.
    public let encodedResult: [UInt8]
    let notBefore: Int64?
    let sessionID: String?
    let denylistKey: Denylist.Key

    init(result: VerifyResult, notBefore: Int64?, sessionID: String?) {
        self.result = result
        self.denylistKey = Denylist.key(for: result.jti)
        self.encodedResult = JSONWriter.bytes(.object(result.result))
        self.notBefore = notBefore
        self.sessionID = sessionID
    }
}

/// A bounded cache of verified tokens, keyed by the exact token string.
///
/// Exact-string keys mean that any change to a token, even a re-encoding that would still carry a
/// valid signature, is a miss and is verified in full. The cache lives and dies with its
/// ``TokenService``, so a reload (new keys, a new HMAC secret) starts empty. An entry whose token
/// has expired is dropped when met.
///
/// It is split into shards, each behind its own lock, so that concurrent `verify`s rarely wait for
/// each other. Each shard keeps two generations: new entries go into the young one, and when it is
/// full the old one is dropped whole and the young one takes its place. A hit in the old
/// generation moves the entry back to the young one, so tokens in use survive and a burst of
/// one-off tokens only flushes other one-off tokens. Every operation is O(1).
final class VerifiedTokenCache: Sendable {
    /// A token as a key: compared whole, hashed by its last 32 bytes only. Those are its
    /// signature's (or MAC's), as good as random and different for any two tokens; hashing all of
    /// a 300-byte token was a tenth of the instructions of a verify the cache answers. Only
    /// verified tokens are ever inserted, and `Hasher`'s per-process seed keeps anyone from
    /// choosing tokens whose hashes collide.
    struct Key: Hashable {
        let token: String

        init(_ token: String) { self.token = token }

        static func == (lhs: Key, rhs: Key) -> Bool { lhs.token == rhs.token }

        func hash(into hasher: inout Hasher) {
            var token = token
            token.withUTF8 { bytes in hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes.suffix(32)))) }
        }
    }

    private struct Generations {
        var young: [Key: VerifiedToken] = [:]
        var old: [Key: VerifiedToken] = [:]

        mutating func insert(_ token: Key, _ verified: VerifiedToken, generationSize: Int) {
            if young.count >= generationSize, young[token] == nil {
                old = young
                young = [:]
                young.reserveCapacity(generationSize)
            }
            young[token] = verified
        }
    }

    private final class Shard: Sendable {
        let generations = Mutex(Generations())
    }

    private static let shardCount = 16
    private let shards: [Shard]
    private let generationSize: Int
    private let hitCount = Atomic<Int64>(0)
    private let missCount = Atomic<Int64>(0)

    /// Lookups answered from the cache.
    var hits: Int64 { hitCount.load(ordering: .relaxed) }
    /// Lookups that had to verify the signature.
    var misses: Int64 { missCount.load(ordering: .relaxed) }

    /// A cache of at most `capacity` tokens; 0 disables it.
    init(capacity: Int) {
        generationSize = capacity <= 0 ? 0 : max(1, capacity / Self.shardCount / 2)
        shards = (0..<Self.shardCount).map { _ in Shard() }
    }

    var isEnabled: Bool { generationSize > 0 }

    private func shard(for token: String) -> Shard {
        // The last bytes of a JWS are its signature: as good as random, and cheap to reach. (The
        // very last character alone carries only 2 or 4 bits, so a few are mixed.)
        let mixed = token.utf8.suffix(4).reduce(0) { $0 &* 31 &+ Int($1) }
        return shards[mixed & (Self.shardCount - 1)]
    }

    func lookup(_ token: String) -> VerifiedToken? {
        guard isEnabled else { return nil }
        let size = generationSize
        let key = Key(token)
        let found = shard(for: token).generations.withLock { generations -> VerifiedToken? in
            if let hit = generations.young[key] { return hit }
            guard let hit = generations.old.removeValue(forKey: key) else { return nil }
            generations.insert(key, hit, generationSize: size)
            return hit
        }
        if found == nil { missCount.add(1, ordering: .relaxed) } else { hitCount.add(1, ordering: .relaxed) }
        return found
    }

    func insert(_ token: String, _ verified: VerifiedToken) {
        guard isEnabled else { return }
        let size = generationSize
        let key = Key(token)
        shard(for: token).generations.withLock { $0.insert(key, verified, generationSize: size) }
    }

    func remove(_ token: String) {
        guard isEnabled else { return }
        let key = Key(token)
        shard(for: token).generations.withLock { generations in
            generations.young.removeValue(forKey: key)
            generations.old.removeValue(forKey: key)
        }
    }

    /// Entries held now.
    var count: Int {
        shards.reduce(0) { total, shard in total + shard.generations.withLock { $0.young.count + $0.old.count } }
    }
}
