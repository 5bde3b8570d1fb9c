import AuthdCore

/// The one-line status a supervisor shows (`systemctl status authd`): live figures, never secrets.
enum StatusLine {
    static func describe(_ tokens: TokenService) -> String {
        let counters = tokens.counters
        return "STATUS=serving: \(counters.connections) connections, \(counters.issued) tokens issued, "
            + "\(counters.verified) verified, \(counters.rejected) refused; active key \(tokens.activeKeyID.prefix(12))"
            + (tokens.fleet.map { fleet($0.health) } ?? "")
    }

    /// A fleet node's standing, so that `systemctl status` shows a stale or disconnected node.
    static func fleet(_ health: FleetHealth) -> String {
        let snapshot = health.snapshot
        let link = snapshot.connected ? "connected" : "DISCONNECTED"
        let view = snapshot.isStale ? "STALE for \(snapshot.staleness) s" : "applied seq \(snapshot.appliedSequence)"
        return "; fleet node \(health.node): \(link), \(view)"
    }
}
