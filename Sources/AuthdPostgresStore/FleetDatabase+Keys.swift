public import AuthdCore
import AuthdProtocol
import Logging
import PostgresNIO

/// Every node's public keys, in `authd_keys`. Private keys never leave their node.
extension FleetDatabase {
    /// Publishes this node's `keys` (or updates their expiry), in one transaction.
    public func publish(_ keys: [PublishedKey]) async throws(StoreError) {
        guard !keys.isEmpty else { return }
        try await transaction("publish signing keys") { connection, logger in
            try await Self.publish(keys, on: connection, logger: logger)
        }
    }

    /// Publishes `keys` on `connection` (inside the caller's transaction, if any).
    static func publish(_ keys: [PublishedKey], on connection: PostgresConnection, logger: Logger) async throws {
            for key in keys {
                let jwk = JSONWriter.string(.object(key.jwk))
                // A kid is a thumbprint of the key: the same kid from another node is the same key
                // (never expected), and a row is never handed from one node to another.
                try await connection.query(
                    """
                    INSERT INTO authd_keys (kid, node, jwk, created_at, expires_at)
                    VALUES (\(key.kid), \(key.node), \(jwk), \(key.createdAt), \(key.expiresAt))
                    ON CONFLICT (kid) DO UPDATE SET expires_at = excluded.expires_at WHERE authd_keys.node = excluded.node
                    """, logger: logger)
            }
            // Other nodes read the keys at once instead of at their next periodic read.
            try await connection.query("SELECT pg_notify(\(Self.channel), 'keys')", logger: logger)
    }

    /// Every node's keys that still verify at `now`.
    public func publishedKeys(now: Int64) async throws(StoreError) -> [PublishedKey] {
        try await withConnection("read the fleet's keys") { connection, logger -> [PublishedKey] in
            try await Self.publishedKeys(now: now, on: connection, logger: logger)
        }
    }

    /// Every node's keys that still verify at `now`, read on `connection`.
    static func publishedKeys(now: Int64, on connection: PostgresConnection, logger: Logger) async throws -> [PublishedKey] {
            var keys: [PublishedKey] = []
            let rows = try await connection.query(
                """
                SELECT kid, node, jwk, created_at, expires_at FROM authd_keys
                WHERE expires_at IS NULL OR expires_at > \(now) ORDER BY created_at
                """, logger: logger)
            for try await (kid, node, jwkText, createdAt, expiresAt) in rows.decode((String, String, String, Int64, Int64?).self) {
                guard case .object(let jwk)? = try? JSONParser().parse(jwkText) else {
                    throw StoreError(.corruptRow, "authd_keys.jwk of key \(kid) (node \(node)) is not a JSON object")
                }
                keys.append(PublishedKey(kid: kid, jwk: jwk, createdAt: createdAt, expiresAt: expiresAt, node: node))
            }
            return keys
    }
}
