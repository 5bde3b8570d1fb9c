public import AuthdCore
import AuthdProtocol

/// A fleet node's local state in its SQLite database: the node's cache of the fleet's revocations
/// and its outbox (schema version 3). On a single host these tables stay empty.
extension SQLiteStore: FleetLocalState {
    private static let sequenceName = "fleet_applied_seq"

    public func appliedState(now: Int64) async throws(StoreError) -> (revocations: RevocationSnapshot, sequence: Int64) {
        var snapshot = try await revocations(now: now)
        let (families, sequence) = try await read { database throws(StoreError) -> ([(id: String, expiresAt: Int64)], Int64) in
            var families: [(id: String, expiresAt: Int64)] = []
            let select = try database.prepare("SELECT family_id, expires_at FROM fleet_revoked_families WHERE expires_at > ?1")
            try select.bind([.integer(now)])
            while try select.step() { families.append((try select.text(0), try select.integer(1))) }
            return (families, try Self.sequence(database))
        }
        snapshot.families += families
        return (snapshot, sequence)
    }

    public func applyFeed(_ records: [RevocationRecord], through sequence: Int64?) async throws(StoreError) {
        try await perform { database throws(StoreError) in
            try Self.writeFleetRecords(records, to: database)
            guard let sequence else { return }
            // Never moves back: a feed read that raced a newer one must not undo its progress.
            try database.prepare(
                """
                INSERT INTO fleet_state (name, value) VALUES (?1, ?2)
                ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)
                """
            ).run([.text(Self.sequenceName), .integer(sequence)])
        }
    }

    public func enqueue(_ revocations: [PendingRevocation]) async throws(StoreError) {
        try await perform { database throws(StoreError) in
            try Self.writeFleetRecords(revocations.map(\.record), to: database)
            let insert = try database.prepare(
                """
                INSERT OR IGNORE INTO fleet_outbox (event_id, kind, value, revoked_before, expires_at, created_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                """)
            for pending in revocations {
                let row = RevocationRow(pending.record)
                try insert.run([
                    .text(pending.id), .integer(row.kind), .text(row.value), .integer(row.before), .integer(row.expiresAt),
                    .integer(pending.createdAt),
                ])
            }
        }
    }

    public func unpublished(limit: Int) async throws(StoreError) -> [PendingRevocation] {
        try await read { database throws(StoreError) -> [PendingRevocation] in
            let select = try database.prepare(
                """
                SELECT event_id, kind, value, revoked_before, expires_at, created_at FROM fleet_outbox
                ORDER BY created_at, event_id LIMIT ?1
                """)
            try select.bind([.integer(Int64(limit))])
            var pending: [PendingRevocation] = []
            while try select.step() {
                let row = RevocationRow(kind: try select.integer(1), value: try select.text(2), before: try select.integer(3), expiresAt: try select.integer(4))
                guard let record = row.record else { throw select.corrupt(1, "is not a revocation kind") }
                pending.append(PendingRevocation(id: try select.text(0), record: record, createdAt: try select.integer(5)))
            }
            return pending
        }
    }

    public func markPublished(_ ids: [String]) async throws(StoreError) {
        guard !ids.isEmpty else { return }
        try await perform { database throws(StoreError) in
            let delete = try database.prepare("DELETE FROM fleet_outbox WHERE event_id = ?1")
            for id in ids { try delete.run([.text(id)]) }
        }
    }

    private static let publishedKeyPrefix = "published_key:"

    public func publishedKeyIDs() async throws(StoreError) -> Set<String> {
        try await read { database throws(StoreError) -> Set<String> in
            let select = try database.prepare("SELECT name FROM fleet_state WHERE name LIKE 'published\\_key:%' ESCAPE '\\'")
            var kids: Set<String> = []
            while try select.step() { kids.insert(String(try select.text(0).dropFirst(Self.publishedKeyPrefix.count))) }
            return kids
        }
    }

    public func markKeysPublished(_ kids: [String]) async throws(StoreError) {
        guard !kids.isEmpty else { return }
        try await perform { database throws(StoreError) in
            let insert = try database.prepare("INSERT OR IGNORE INTO fleet_state (name, value) VALUES (?1, 1)")
            for kid in kids { try insert.run([.text(Self.publishedKeyPrefix + kid)]) }
        }
    }

    public func cachedPeerKeys() async throws(StoreError) -> [PublishedKey] {
        try await read { database throws(StoreError) -> [PublishedKey] in
            let select = try database.prepare("SELECT kid, node, jwk, created_at, expires_at FROM fleet_peer_keys ORDER BY created_at")
            var keys: [PublishedKey] = []
            while try select.step() {
                guard case .object(let jwk)? = try? JSONParser().parse(try select.text(2)) else {
                    throw select.corrupt(2, "is not a JSON object")
                }
                let expiresAt: Int64? = select.isNull(4) ? nil : try select.integer(4)
                keys.append(
                    PublishedKey(kid: try select.text(0), jwk: jwk, createdAt: try select.integer(3), expiresAt: expiresAt, node: try select.text(1)))
            }
            return keys
        }
    }

    public func cachePeerKeys(_ keys: [PublishedKey]) async throws(StoreError) {
        try await perform { database throws(StoreError) in
            try database.execute("DELETE FROM fleet_peer_keys")
            let insert = try database.prepare(
                "INSERT OR REPLACE INTO fleet_peer_keys (kid, node, jwk, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")
            for key in keys {
                try insert.run([
                    .text(key.kid), .text(key.node), .text(JSONWriter.string(.object(key.jwk))), .integer(key.createdAt),
                    key.expiresAt.map(SQLiteValue.integer) ?? .null,
                ])
            }
        }
    }

    /// Token and subject revocations go where a single host keeps them; a family, whose refresh
    /// tokens live in the shared database, has a table of its own.
    private static func writeFleetRecords(_ records: [RevocationRecord], to database: SQLiteDatabase) throws(StoreError) {
        try write(records.filter { if case .family = $0 { false } else { true } }, to: database)
        let family = try database.prepare(
            """
            INSERT INTO fleet_revoked_families (family_id, expires_at) VALUES (?1, ?2)
            ON CONFLICT(family_id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)
            """)
        for case .family(let id, let expiresAt) in records { try family.run([.text(id), .integer(expiresAt)]) }
    }

    private static func sequence(_ database: SQLiteDatabase) throws(StoreError) -> Int64 {
        let select = try database.prepare("SELECT value FROM fleet_state WHERE name = ?1")
        try select.bind([.text(sequenceName)])
        return try select.step() ? try select.integer(0) : 0
    }
}
