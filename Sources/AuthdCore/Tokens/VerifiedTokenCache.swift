public import AuthdProtocol
import Synchronization

/// What a token's signature and structure proved, kept so the next `verify` of the same token
/// skips the signature check. Nothing time-dependent or revocable is decided here: expiry, `nbf`,
/// the denylist, the audience and the roles are checked on every request, hit or miss.
struct VerifiedToken: Sendable {
    /// The result `verify` returns.
    let result: VerifyResult
    let notBefore: Int64?
    let sessionID: String?
}

/// A bounded cache of verified tokens, keyed by the exact token string.
///
/// Exact-string keys mean that any change to a token, even a re-encoding that would still carry a
/// valid signature, is a miss and is verified in full. The cache lives and dies with its
/// ``TokenService``, so a reload (new keys, a new HMAC secret) starts empty. It is split into
/// shards, each behind its own lock, so that concurrent `verify`s rarely wait for each other; a
/// full shard forgets an arbitrary entry, and an entry whose token has expired is dropped when met.
final class VerifiedTokenCache: Sendable {
    private final class Shard: Sendable {
        let entries = Mutex<[String: VerifiedToken]>([:])
    }

    private static let shardCount = 16
    private let shards: [Shard]
    private let capacityPerShard: Int

    /// A cache of about `capacity` tokens; 0 disables it.
    init(capacity: Int) {
        capacityPerShard = capacity <= 0 ? 0 : max(1, capacity / Self.shardCount)
        shards = (0..<Self.shardCount).map { _ in Shard() }
    }

    var isEnabled: Bool { capacityPerShard > 0 }

    private func shard(for token: String) -> Shard {
        // The last bytes of a JWS are its signature: as good as random, and cheap to reach. (The
        // very last character alone carries only 2 or 4 bits, so a few are mixed.)
        let mixed = token.utf8.suffix(4).reduce(0) { $0 &* 31 &+ Int($1) }
        return shards[mixed & (Self.shardCount - 1)]
    }

    func lookup(_ token: String) -> VerifiedToken? {
        guard isEnabled else { return nil }
        return shard(for: token).entries.withLock { $0[token] }
    }

    func insert(_ token: String, _ verified: VerifiedToken) {
        guard isEnabled else { return }
        let capacity = capacityPerShard
        shard(for: token).entries.withLock { entries in
            if entries.count >= capacity, entries[token] == nil, let victim = entries.keys.first {
                entries.removeValue(forKey: victim)
            }
            entries[token] = verified
        }
    }

    func remove(_ token: String) {
        guard isEnabled else { return }
        _ = shard(for: token).entries.withLock { $0.removeValue(forKey: token) }
    }

    /// Entries held now.
    var count: Int { shards.reduce(0) { total, shard in total + shard.entries.withLock { $0.count } } }
}
