public import AuthdCore
import AuthdProtocol

extension SQLiteStore {
    public func createFamily(
        id: String, grant: RefreshGrant, tokenHash: [UInt8], now: Int64, expiresAt: Int64
    ) async throws(StoreError) {
        let grantText = JSONWriter.string(.object(grant.json))
        try await perform { database throws(StoreError) in
            try database.prepare(
                "INSERT INTO refresh_families (family_id, grant_json, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)"
            ).run([.text(id), .text(grantText), .integer(now), .integer(expiresAt)])
            try database.prepare("INSERT INTO refresh_tokens (token_hash, family_id, expires_at) VALUES (?1, ?2, ?3)")
                .run([.blob(tokenHash), .text(id), .integer(expiresAt)])
        }
    }

    public func rotate(
        presented: [UInt8], successor: [UInt8], now: Int64, successorExpiresAt: Int64, revocationExpiry: Int64
    ) async throws(StoreError) -> RefreshRotation {
        try await perform { database throws(StoreError) -> RefreshRotation in
            let lookup = try database.prepare(
                """
                SELECT t.family_id, t.spent, t.expires_at, f.revoked, f.grant_json, f.created_at
                FROM refresh_tokens t JOIN refresh_families f ON f.family_id = t.family_id WHERE t.token_hash = ?1
                """)
            try lookup.bind([.blob(presented)])
            guard try lookup.step() else { return .unknown }
            let familyID = try lookup.text(0)
            let spent = try lookup.flag(1)
            let expiresAt = try lookup.integer(2)
            let revoked = try lookup.flag(3)
            let grantText = try lookup.text(4)
            let createdAt = try lookup.integer(5)
            if revoked { return .revoked(familyID: familyID) }
            if spent {
                // RFC 9700 §4.14.2: a spent token presented again means it leaked; kill the family.
                try database.prepare(
                    "UPDATE refresh_families SET revoked = 1, expires_at = max(expires_at, ?2) WHERE family_id = ?1"
                ).run([.text(familyID), .integer(revocationExpiry)])
                return .reused(familyID: familyID)
            }
            guard expiresAt > now else { return .expired }
            guard case .object(let object)? = try? JSONParser().parse(grantText), let grant = RefreshGrant(json: object) else {
                throw lookup.corrupt(4, "is not a refresh grant")
            }
            try database.prepare("UPDATE refresh_tokens SET spent = 1 WHERE token_hash = ?1").run([.blob(presented)])
            try database.prepare("INSERT INTO refresh_tokens (token_hash, family_id, expires_at) VALUES (?1, ?2, ?3)")
                .run([.blob(successor), .text(familyID), .integer(successorExpiresAt)])
            try database.prepare("UPDATE refresh_families SET expires_at = max(expires_at, ?2) WHERE family_id = ?1")
                .run([.text(familyID), .integer(successorExpiresAt)])
            return .rotated(familyID: familyID, grant: grant, createdAt: createdAt)
        }
    }

    public func familyID(ofToken hash: [UInt8]) async throws(StoreError) -> String? {
        try await read { database throws(StoreError) -> String? in
            let lookup = try database.prepare("SELECT family_id FROM refresh_tokens WHERE token_hash = ?1")
            try lookup.bind([.blob(hash)])
            return try lookup.step() ? try lookup.text(0) : nil
        }
    }
}
