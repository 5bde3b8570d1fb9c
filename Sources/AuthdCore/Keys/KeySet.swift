/// An immutable snapshot of the keys in use: the newest signs, all of them verify.
package struct KeySet: Sendable {
    /// Keys, oldest first. Never empty.
    package let keys: [SigningKey]
    private let byKid: [String: SigningKey]

    /// A key set; `keys` must be sorted oldest first and not empty.
    package init(keys: [SigningKey]) {
        precondition(!keys.isEmpty, "a key set needs at least one key")
        self.keys = keys
        self.byKid = Dictionary(keys.map { ($0.kid, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The key that signs new tokens.
    package var active: SigningKey { keys[keys.count - 1] }

    /// The key with exactly this id, if it still verifies.
    package func key(withID kid: String) -> SigningKey? { byKid[kid] }

    /// Every key id, oldest first.
    package var keyIDs: [String] { keys.map(\.kid) }
}
