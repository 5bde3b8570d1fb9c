import Crypto
import Synchronization

/// The revocations in force, in memory, so that `verify` checks them without touching the disk.
///
/// Token ids are kept as 128-bit keys in one flat table (``RevokedTokenTable``), not as strings:
/// authd's own `jti`s are 16 random bytes and are used as they are; any other spelling is hashed
/// down to 16 bytes. A million revoked tokens take about 27 MiB.
public final class Denylist: Sendable {
    /// A token id as the denylist holds it.
    struct Key: Hashable, Sendable {
        let high: UInt64
        let low: UInt64

        var isZero: Bool { high == 0 && low == 0 }
    }

    private struct State {
        var tokens = RevokedTokenTable()
        var subjects: [String: (before: Int64, expiresAt: Int64)] = [:]
        var families: [String: Int64] = [:]
    }

    private let state = Mutex(State())

    /// An empty denylist.
    public init() {}

    static func key(for jti: String) -> Key {
        var jti = jti
        return jti.withUTF8 { key(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// The key of the id spelled by these UTF-8 bytes: authd's own ids (22 characters of canonical
    /// base64url, 16 bytes) as they decode, any other spelling the first 16 bytes of its SHA-256.
    /// The decoder is canonical, so 16 decoded bytes name exactly one spelling.
    static func key(utf8 bytes: UnsafeRawBufferPointer) -> Key {
        if bytes.count == 22, let key = decodedKey(bytes) { return key }
        return SHA256.hash(data: bytes).withUnsafeBytes { digest in
            var high: UInt64 = 0
            var low: UInt64 = 0
            for index in 0..<8 {
                high = high << 8 | UInt64(digest[index])
                low = low << 8 | UInt64(digest[index + 8])
            }
            return Key(high: high, low: low)
        }
    }

    /// 22 base64url characters carry 132 bits: the key's 128, then four that must be zero.
    private static func decodedKey(_ bytes: UnsafeRawBufferPointer) -> Key? {
        Base64URL.decodeTable.withUnsafeBufferPointer { table -> Key? in
            var high: UInt64 = 0
            var low: UInt64 = 0
            for index in 0..<21 {
                let value = table[Int(bytes[index])]
                guard value != 0xFF else { return nil }
                high = high << 6 | low >> 58
                low = low << 6 | UInt64(value)
            }
            let last = table[Int(bytes[21])]
            guard last != 0xFF, last & 0x0F == 0 else { return nil }
            high = high << 2 | low >> 62
            low = low << 2 | UInt64(last >> 4)
            return Key(high: high, low: low)
        }
    }

    /// Whether a token with these claims has been revoked: by its id, its subject, or its
    /// refresh-token family (`sid`).
    public func isRevoked(jti: String, subject: String, issuedAt: Int64, sessionID: String? = nil) -> Bool {
        isRevoked(key: Self.key(for: jti), subject: subject, issuedAt: issuedAt, sessionID: sessionID)
    }

    /// ``isRevoked(jti:subject:issuedAt:sessionID:)`` with the jti's key already computed (the
    /// verified-token cache keeps it, so a hit does not decode the jti again).
    func isRevoked(key: Key, subject: String, issuedAt: Int64, sessionID: String?) -> Bool {
        state.withLock { state in
            if state.tokens.contains(key) { return true }
            if let watermark = state.subjects[subject], issuedAt <= watermark.before { return true }
            if let sessionID, state.families[sessionID] != nil { return true }
            return false
        }
    }

    /// Whether every token of `subject` issued at or before `issuedAt` is revoked.
    public func isSubjectRevoked(_ subject: String, issuedAt: Int64) -> Bool {
        state.withLock { state in
            guard let watermark = state.subjects[subject] else { return false }
            return issuedAt <= watermark.before
        }
    }

    /// The time at or before which `subject`'s tokens are revoked, if they are.
    public func subjectWatermark(_ subject: String) -> Int64? {
        state.withLock { $0.subjects[subject]?.before }
    }

    /// Adds durable records (after they are on disk).
    public func apply(_ records: [RevocationRecord]) {
        state.withLock { state in
            for record in records {
                switch record {
                case .token(let jti, let expiresAt):
                    state.tokens.insert(jti: jti, expiresAt: expiresAt)
                case .subject(let subject, let before, let expiresAt):
                    let current = state.subjects[subject]
                    state.subjects[subject] = (max(current?.before ?? before, before), max(current?.expiresAt ?? expiresAt, expiresAt))
                case .family(let id, let expiresAt):
                    state.families[id] = max(state.families[id] ?? expiresAt, expiresAt)
                }
            }
        }
    }

    /// Replaces the contents with what the store holds (the token table is taken as it is: a
    /// start-up that loads millions of ids builds it once, outside the lock).
    public func load(_ snapshot: consuming RevocationSnapshot) {
        var fresh = State()
        fresh.tokens = snapshot.tokens
        for entry in snapshot.subjects { fresh.subjects[entry.subject] = (entry.before, entry.expiresAt) }
        for entry in snapshot.families { fresh.families[entry.id] = entry.expiresAt }
        state.withLock { swap(&$0, &fresh) }
    }

    /// Forgets entries whose tokens have all expired by `now`.
    public func prune(now: Int64) {
        state.withLock { state in
            state.tokens.removeAll(expiredBy: now)
            state.subjects = state.subjects.filter { $0.value.expiresAt > now }
            state.families = state.families.filter { $0.value > now }
        }
    }

    /// How many token ids and subjects are revoked.
    public var count: (tokens: Int, subjects: Int) { state.withLock { ($0.tokens.count, $0.subjects.count) } }

    /// How many refresh-token families are revoked.
    public var familyCount: Int { state.withLock { $0.families.count } }
}
