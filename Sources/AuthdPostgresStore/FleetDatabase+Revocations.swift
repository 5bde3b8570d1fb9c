import AuthdCore
import Logging
import PostgresNIO

/// The fleet's revocations: one table that is both the state and the feed, ordered by `seq`.
///
/// Sequence numbers come from the single row of `authd_feed`, updated first in every transaction
/// that adds revocations. Its row lock is held until that transaction commits, so transactions
/// that add revocations commit one after the other in `seq` order: a reader that has seen event
/// *n* has seen every committed event before it, and reading `seq > applied` never skips one that
/// commits late. (With a plain sequence, *n + 1* could commit before *n*, and a node that read *n + 1*
/// would never read *n*.)
extension FleetDatabase {
    /// The channel of the fleet's notifications: `rev:SEQ` when revocations up to SEQ committed,
    /// `keys` when a node published keys. A notification is only a hint to read the tables.
    static let channel = "authd_feed"

    /// Publishes `revocations` in one transaction. Publishing one again is harmless: the database
    /// keeps one row per ``PendingRevocation/id``.
    ///
    /// An explicit transaction, not one statement committed on its own: PostgreSQL commits a lone
    /// statement at the protocol's Sync, after it has reported the statement complete, so only the
    /// reply to `COMMIT` says that the revocations are durable.
    func publish(_ revocations: [PendingRevocation]) async throws(StoreError) {
        guard !revocations.isEmpty else { return }
        let node = self.node
        try await transaction("publish revocations") { connection, logger in
            try await Self.insert(revocations, node: node, on: connection, logger: logger)
        }
    }

    /// Adds revocations inside the caller's transaction (account changes and refresh-token reuse
    /// revoke in the transaction that makes the change). Call it last in a transaction: from here
    /// to the commit, every other writer of revocations waits.
    static func insert(
        _ revocations: [PendingRevocation], node: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard !revocations.isEmpty else { return }
        let families = revocations.compactMap { pending -> String? in
            if case .family(let id, _) = pending.record { id } else { nil }
        }
        if !families.isEmpty {
            // The family's refresh tokens stop working on every node at once, not only its access
            // tokens. Locked before the feed's row, in the order every other transaction takes them.
            try await connection.query(
                "UPDATE authd_refresh_families SET revoked = true WHERE family_id = ANY(\(families)::text[])", logger: logger)
        }
        try await connection.query(insertStatement(revocations, node: node), logger: logger)
    }

    /// One statement that takes `revocations.count` sequence numbers from `authd_feed` (locking its
    /// row until the transaction ends), inserts the revocations under them in order, and notifies
    /// the fleet of the last. A revocation already published keeps its row and number.
    private static func insertStatement(_ revocations: [PendingRevocation], node: String) -> PostgresQuery {
        let count = Int64(revocations.count)
        let rows = revocations.map { RevocationRow($0.record) }
        let ids = revocations.map(\.id)
        let kinds = rows.map(\.kind)
        let values = rows.map(\.value)
        let befores = rows.map(\.before)
        let expiries = rows.map(\.expiresAt)
        let created = revocations.map(\.createdAt)
        return """
            WITH feed AS (
                UPDATE authd_feed SET seq = seq + \(count) WHERE id = 1 RETURNING seq
            ), added AS (
                INSERT INTO authd_revocations (seq, event_id, kind, value, revoked_before, expires_at, node, created_at)
                SELECT feed.seq - \(count) + t.n, t.e, t.k::smallint, t.v, t.b, t.x, \(node), t.c
                FROM feed, unnest(\(ids)::text[], \(kinds)::bigint[], \(values)::text[], \(befores)::bigint[],
                                  \(expiries)::bigint[], \(created)::bigint[]) WITH ORDINALITY AS t(e, k, v, b, x, c, n)
                ON CONFLICT (event_id) DO NOTHING
            )
            SELECT pg_notify(\(channel), 'rev:' || feed.seq::text) FROM feed
            """
    }

    /// Up to `limit` events after `sequence`, in order, read on `connection` (the feed's own).
    static func events(
        after sequence: Int64, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [(sequence: Int64, record: RevocationRecord)] {
        var events: [(sequence: Int64, record: RevocationRecord)] = []
        let rows = try await connection.query(
            """
            SELECT seq, kind, value, revoked_before, expires_at FROM authd_revocations
            WHERE seq > \(sequence) ORDER BY seq LIMIT \(Int64(limit))
            """, logger: logger)
        for try await (seq, kind, value, before, expiresAt) in rows.decode((Int64, Int16, String, Int64, Int64).self) {
            guard let record = RevocationRow(kind: Int64(kind), value: value, before: before, expiresAt: expiresAt).record else {
                throw StoreError(.corruptRow, "authd_revocations row \(seq) has the unknown kind \(kind)")
            }
            events.append((seq, record))
        }
        return events
    }

    /// Deletes expired rows of every shared table, a bounded batch per statement.
    func prune(now: Int64) async throws(StoreError) {
        let statements: [PostgresQuery] = [
            "DELETE FROM authd_revocations WHERE seq IN (SELECT seq FROM authd_revocations WHERE expires_at <= \(now) LIMIT 5000)",
            "DELETE FROM authd_refresh_tokens WHERE token_hash IN (SELECT token_hash FROM authd_refresh_tokens WHERE expires_at <= \(now) LIMIT 5000)",
            "DELETE FROM authd_refresh_families WHERE family_id IN (SELECT family_id FROM authd_refresh_families WHERE expires_at <= \(now) LIMIT 5000)",
            "DELETE FROM authd_keys WHERE expires_at IS NOT NULL AND expires_at <= \(now)",
            "DELETE FROM authd_login_failures WHERE failed_at <= \(now - 86_400)",
        ]
        try await withConnection("prune the fleet database") { connection, logger in
            for statement in statements { try await connection.query(statement, logger: logger) }
        }
    }
}
