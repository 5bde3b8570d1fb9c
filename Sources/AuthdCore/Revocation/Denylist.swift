import Crypto
import Synchronization

/// The revocations in force, in memory, so that `verify` checks them without touching the disk.
///
/// Token ids are kept as 128-bit keys, not strings: authd's own `jti`s are 16 random bytes and are
/// used as they are; any other spelling is hashed down to 16 bytes. A million revoked tokens then
/// cost a million small fixed-size entries.
public final class Denylist: Sendable {
    struct Key: Hashable, Sendable {
        let high: UInt64
        let low: UInt64
    }

    private struct State {
        var tokens: [Key: Int64] = [:]
        var subjects: [String: (before: Int64, expiresAt: Int64)] = [:]
        var families: [String: Int64] = [:]
    }

    private let state = Mutex(State())

    /// An empty denylist.
    public init() {}

    static func key(for jti: String) -> Key {
        // The decoder is canonical, so 16 decoded bytes name exactly one spelling: no re-encoding.
        var bytes = Base64URL.decode(jti) ?? []
        if bytes.count != 16 {
            bytes = Array(SHA256.hash(data: Array(jti.utf8)).prefix(16))
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 {
            high = high << 8 | UInt64(bytes[index])
            low = low << 8 | UInt64(bytes[index + 8])
        }
        return Key(high: high, low: low)
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
            if state.tokens[key] != nil { return true }
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
                    let key = Self.key(for: jti)
                    state.tokens[key] = max(state.tokens[key] ?? expiresAt, expiresAt)
                case .subject(let subject, let before, let expiresAt):
                    let current = state.subjects[subject]
                    state.subjects[subject] = (max(current?.before ?? before, before), max(current?.expiresAt ?? expiresAt, expiresAt))
                case .family(let id, let expiresAt):
                    state.families[id] = max(state.families[id] ?? expiresAt, expiresAt)
                }
            }
        }
    }

    /// Replaces the contents with what the store holds.
    public func load(_ snapshot: RevocationSnapshot) {
        var fresh = State()
        fresh.tokens.reserveCapacity(snapshot.tokens.count)
        for entry in snapshot.tokens { fresh.tokens[Self.key(for: entry.jti)] = entry.expiresAt }
        for entry in snapshot.subjects { fresh.subjects[entry.subject] = (entry.before, entry.expiresAt) }
        for entry in snapshot.families { fresh.families[entry.id] = entry.expiresAt }
        state.withLock { $0 = fresh }
    }

    /// Forgets entries whose tokens have all expired by `now`.
    public func prune(now: Int64) {
        state.withLock { state in
            state.tokens = state.tokens.filter { $0.value > now }
            state.subjects = state.subjects.filter { $0.value.expiresAt > now }
            state.families = state.families.filter { $0.value > now }
        }
    }

    /// How many token ids and subjects are revoked.
    public var count: (tokens: Int, subjects: Int) { state.withLock { ($0.tokens.count, $0.subjects.count) } }

    /// How many refresh-token families are revoked.
    public var familyCount: Int { state.withLock { $0.families.count } }
}
