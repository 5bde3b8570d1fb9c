public import AuthdCore

extension SQLiteStore {
    @discardableResult
    public func record(_ records: [RevocationRecord]) async throws(StoreError) -> RevocationPropagation {
        try await perform { database throws(StoreError) in try Self.write(records, to: database) }
        return .local
    }

    /// Writes `records` inside the caller's transaction (revocations made by account changes
    /// commit with the change).
    static func write(_ records: [RevocationRecord], to database: SQLiteDatabase) throws(StoreError) {
        guard !records.isEmpty else { return }
        let token = try database.prepare(
            """
            INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)
            ON CONFLICT(jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)
            """)
        let subject = try database.prepare(
            """
            INSERT INTO revoked_subjects (subject, revoked_before, expires_at) VALUES (?1, ?2, ?3)
            ON CONFLICT(subject) DO UPDATE SET revoked_before = max(revoked_before, excluded.revoked_before),
                expires_at = max(expires_at, excluded.expires_at)
            """)
        let family = try database.prepare(
            "UPDATE refresh_families SET revoked = 1, expires_at = max(expires_at, ?2) WHERE family_id = ?1")
        for record in records {
            switch record {
            case .token(let jti, let expiresAt): try token.run([.text(jti), .integer(expiresAt)])
            case .subject(let name, let before, let expiresAt): try subject.run([.text(name), .integer(before), .integer(expiresAt)])
            case .family(let id, let expiresAt): try family.run([.text(id), .integer(expiresAt)])
            }
        }
    }

    public func revocations(now: Int64) async throws(StoreError) -> RevocationSnapshot {
        try await read { database throws(StoreError) -> RevocationSnapshot in
            var snapshot = RevocationSnapshot()
            // Counted first, so that the table is made once at its size rather than grown.
            let count = try database.prepare("SELECT count(*) FROM revoked_tokens WHERE expires_at > ?1")
            try count.bind([.integer(now)])
            let expected = try count.step() ? Int(try count.integer(0)) : 0
            let tokens = try database.prepare("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?1")
            try tokens.bind([.integer(now)])
            snapshot.tokens = try RevokedTokenTable.build(expectedCount: expected) { add throws(StoreError) in
                while try tokens.step() {
                    let expiresAt = try tokens.integer(1)
                    try tokens.withText(0) { add($0, expiresAt) }
                }
            }
            let subjects = try database.prepare(
                "SELECT subject, revoked_before, expires_at FROM revoked_subjects WHERE expires_at > ?1")
            try subjects.bind([.integer(now)])
            while try subjects.step() {
                snapshot.subjects.append((try subjects.text(0), try subjects.integer(1), try subjects.integer(2)))
            }
            let families = try database.prepare(
                "SELECT family_id, expires_at FROM refresh_families WHERE revoked = 1 AND expires_at > ?1")
            try families.bind([.integer(now)])
            while try families.step() { snapshot.families.append((try families.text(0), try families.integer(1))) }
            return snapshot
        }
    }
}
