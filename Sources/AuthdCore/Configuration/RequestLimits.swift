import AuthdProtocol

/// Bounds on what callers may put into requests and tokens: the `[limits]` table of `authd.toml`.
/// Everything a caller chooses ends up in tokens, in the store or in the audit log, so none of it
/// may be unbounded.
public struct RequestLimits: Sendable, Equatable {
    /// Roles in one token or user.
    public var maximumRoles = 64
    /// Audiences in one token.
    public var maximumAudiences = 16
    /// Bytes in one subject, role, audience, jti or username.
    public var maximumStringBytes = 1024
    /// Bytes of a token's custom claims, as compact JSON.
    public var maximumClaimsBytes = 4096
    /// Bytes in one token, issued or verified.
    public var maximumTokenBytes = 8192

    /// The defaults.
    public init() {}

    init(table: inout ConfigTableReader) throws(StartupError) {
        maximumRoles = Int(try table.integer("max_roles", default: Int64(maximumRoles), in: 1...1024))
        maximumAudiences = Int(try table.integer("max_audiences", default: Int64(maximumAudiences), in: 1...256))
        maximumStringBytes = Int(try table.integer("max_string_bytes", default: Int64(maximumStringBytes), in: 16...65_536))
        maximumClaimsBytes = Int(try table.integer("max_claims_bytes", default: Int64(maximumClaimsBytes), in: 0...65_536))
        maximumTokenBytes = Int(try table.integer("max_token_bytes", default: Int64(maximumTokenBytes), in: 1024...65_536))
        try table.finish()
    }

    /// A non-empty string without control characters (which would corrupt logs), of bounded length.
    func checkIdentifier(_ value: String, field: String) throws(AuthdError) {
        guard !value.isEmpty else { throw .badRequest("field '\(field)' must not be empty") }
        guard value.utf8.count <= maximumStringBytes else {
            throw .badRequest("field '\(field)' is longer than \(maximumStringBytes) bytes")
        }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .badRequest("field '\(field)' contains a control character")
        }
    }

    /// Checked roles with duplicates removed, first occurrence kept.
    func checkRoles(_ roles: [String], field: String) throws(AuthdError) -> [String] {
        guard roles.count <= maximumRoles else { throw .badRequest("field '\(field)' has more than \(maximumRoles) roles") }
        var seen: Set<String> = []
        var unique: [String] = []
        for role in roles {
            try checkIdentifier(role, field: field)
            if seen.insert(role).inserted { unique.append(role) }
        }
        return unique
    }
}
