import AuthdCore

/// The one-line status a supervisor shows (`systemctl status authd`): live figures, never secrets.
enum StatusLine {
    static func describe(_ tokens: TokenService) -> String {
        let counters = tokens.counters
        return "STATUS=serving: \(counters.connections) connections, \(counters.issued) tokens issued, "
            + "\(counters.verified) verified, \(counters.rejected) refused; active key \(tokens.activeKeyID.prefix(12))"
    }
}
