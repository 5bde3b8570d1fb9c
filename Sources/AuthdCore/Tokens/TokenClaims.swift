/// Claim names that authd owns. A caller's custom `claims` may not set them, and `verify` reports
/// them as named fields rather than under `claims`.
enum TokenClaims {
    /// Claims authd writes into every token.
    static let standard: Set<String> = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti", "roles"]

    /// Claims a caller may not set: the standard ones plus registered names whose meaning
    /// authd (or an RFC 9068 resource server) would misread if a caller chose them.
    static let reserved: Set<String> = standard.union([
        "sid", "client_id", "scope", "auth_time", "acr", "amr", "cnf", "act", "typ", "token_use",
    ])

    /// Header parameters that would make a verifier fetch or trust key material or semantics from
    /// the token itself (RFC 8725 §2.1, §3.10), or that we do not understand: always refused.
    static let forbiddenHeaderParameters: Set<String> = ["crit", "jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "b64"]
}
