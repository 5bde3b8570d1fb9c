import AuthdCore
import AuthdProtocol
import Logging
import NIOCore
import PostgresNIO

/// Refresh-token families in the shared database: a token issued on one node refreshes on any, and
/// of concurrent presentations of one token on several nodes exactly one wins.
///
/// Token hashes are bound as `ByteBuffer`s, which PostgresNIO sends as `bytea` (an `[UInt8]`
/// would go as an array of `"char"`).
extension FleetDatabase {
    func createFamily(id: String, grant: RefreshGrant, tokenHash: [UInt8], now: Int64, expiresAt: Int64) async throws(StoreError) {
        let grantText = JSONWriter.string(.object(grant.json))
        try await transaction("store a refresh token") { connection, logger in
            try await connection.query(
                """
                INSERT INTO authd_refresh_families (family_id, grant_json, created_at, expires_at)
                VALUES (\(id), \(grantText), \(now), \(expiresAt))
                """, logger: logger)
            try await connection.query(
                "INSERT INTO authd_refresh_tokens (token_hash, family_id, expires_at) VALUES (\(ByteBuffer(bytes: tokenHash)), \(id), \(expiresAt))",
                logger: logger)
        }
    }

    func rotate(
        presented: [UInt8], successor: [UInt8], now: Int64, successorExpiresAt: Int64, revocationExpiry: Int64
    ) async throws(StoreError) -> RefreshRotation {
        let node = self.node
        return try await transaction("rotate a refresh token") { connection, logger -> RefreshRotation in
            // FOR UPDATE: a concurrent rotation of the same token, on any node, waits here for this
            // transaction and then sees the token spent. Exactly one wins; the other revokes.
            let rows = try await connection.query(
                """
                SELECT t.family_id, t.spent, t.expires_at, f.revoked, f.grant_json, f.created_at
                FROM authd_refresh_tokens t JOIN authd_refresh_families f ON f.family_id = t.family_id
                WHERE t.token_hash = \(ByteBuffer(bytes: presented)) FOR UPDATE OF t, f
                """, logger: logger)
            var found: (String, Bool, Int64, Bool, String, Int64)?
            for try await row in rows.decode((String, Bool, Int64, Bool, String, Int64).self) { found = row }
            guard let (familyID, spent, expiresAt, revoked, grantText, createdAt) = found else { return .unknown }
            if revoked { return .revoked(familyID: familyID) }
            if spent {
                // RFC 9700 §4.14.2: a spent token presented again means it leaked; kill the family
                // on every node (the feed carries the revocation to their denylists).
                try await connection.query(
                    """
                    UPDATE authd_refresh_families SET revoked = true, expires_at = greatest(expires_at, \(revocationExpiry))
                    WHERE family_id = \(familyID)
                    """, logger: logger)
                try await Self.insert(
                    [PendingRevocation(.family(familyID, expiresAt: revocationExpiry), now: now)], node: node, on: connection,
                    logger: logger)
                return .reused(familyID: familyID)
            }
            guard expiresAt > now else { return .expired }
            guard case .object(let object)? = try? JSONParser().parse(grantText), let grant = RefreshGrant(json: object) else {
                throw StoreError(.corruptRow, "authd_refresh_families.grant_json of a family is not a refresh grant")
            }
            try await connection.query("UPDATE authd_refresh_tokens SET spent = true WHERE token_hash = \(ByteBuffer(bytes: presented))", logger: logger)
            try await connection.query(
                """
                INSERT INTO authd_refresh_tokens (token_hash, family_id, expires_at)
                VALUES (\(ByteBuffer(bytes: successor)), \(familyID), \(successorExpiresAt))
                """, logger: logger)
            try await connection.query(
                """
                UPDATE authd_refresh_families SET expires_at = greatest(expires_at, \(successorExpiresAt))
                WHERE family_id = \(familyID)
                """, logger: logger)
            return .rotated(familyID: familyID, grant: grant, createdAt: createdAt)
        }
    }

    func familyID(ofToken hash: [UInt8]) async throws(StoreError) -> String? {
        try await withConnection("read a refresh token") { connection, logger -> String? in
            var familyID: String?
            for try await id in try await connection.query(
                "SELECT family_id FROM authd_refresh_tokens WHERE token_hash = \(ByteBuffer(bytes: hash))", logger: logger
            ).decode(String.self) {
                familyID = id
            }
            return familyID
        }
    }
}
