import AuthdCore

extension RevokedTokenTable {
    /// Whether the table holds these token ids and no other (the table keeps keys, not spellings,
    /// so this is what a test can ask instead of listing them).
    func holds(exactly jtis: some Collection<String>) -> Bool {
        count == Set(jtis).count && jtis.allSatisfy { contains(jti: $0) }
    }
}
