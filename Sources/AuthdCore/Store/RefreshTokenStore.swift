public import AuthdProtocol

/// What a refresh-token family was granted: everything needed to mint its next access token.
public struct RefreshGrant: Sendable, Hashable {
    /// The subject.
    public var subject: String
    /// Roles.
    public var roles: [String]
    /// Audiences, or `nil` for the default.
    public var audience: [String]?
    /// Access-token lifetime, seconds.
    public var ttl: Int64
    /// Custom claims.
    public var claims: JSONObject

    /// A grant.
    public init(subject: String, roles: [String], audience: [String]?, ttl: Int64, claims: JSONObject) {
        self.subject = subject
        self.roles = roles
        self.audience = audience
        self.ttl = ttl
        self.claims = claims
    }

    var json: JSONObject {
        var object: JSONObject = [
            "sub": .string(subject), "roles": .array(roles.map(JSONValue.string)), "ttl": .int(ttl), "claims": .object(claims),
        ]
        if let audience { object["aud"] = .array(audience.map(JSONValue.string)) }
        return object
    }

    init?(json: JSONObject) {
        guard case .string(let subject)? = json["sub"], case .int(let ttl)? = json["ttl"] else { return nil }
        self.subject = subject
        self.ttl = ttl
        roles = json["roles"]?.arrayValue?.compactMap(\.stringValue) ?? []
        audience = json["aud"]?.arrayValue?.compactMap(\.stringValue)
        claims = json["claims"]?.objectValue ?? [:]
    }
}

/// The outcome of presenting a refresh token.
public enum RefreshRotation: Sendable, Hashable {
    /// The token was live and is now spent; its successor is stored.
    case rotated(familyID: String, grant: RefreshGrant, createdAt: Int64)
    /// The token had already been spent: the family is now revoked.
    case reused(familyID: String)
    /// No such token (or it has been pruned).
    case unknown
    /// The token's lifetime has passed.
    case expired
    /// The family was revoked before.
    case revoked(familyID: String)
}

/// Durable refresh-token families. Only hashes of refresh tokens are stored, never the tokens.
public protocol RefreshTokenStore: Sendable {
    /// Creates a family with its first token; durable on return.
    func createFamily(id: String, grant: RefreshGrant, tokenHash: [UInt8], now: Int64, expiresAt: Int64) async throws(StoreError)
    /// Spends `presented` and stores `successor` in one transaction; a spent token revokes its
    /// family instead (durably, until `revocationExpiry`).
    func rotate(
        presented: [UInt8], successor: [UInt8], now: Int64, successorExpiresAt: Int64, revocationExpiry: Int64
    ) async throws(StoreError) -> RefreshRotation
    /// The family a refresh token belongs to, if it is known.
    func familyID(ofToken hash: [UInt8]) throws(StoreError) -> String?
}

extension SQLiteStore: RefreshTokenStore {
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
            guard try lookup.step(), let familyID = lookup.text(0) else { return .unknown }
            let spent = lookup.integer(1) != 0
            let expiresAt = lookup.integer(2)
            let revoked = lookup.integer(3) != 0
            let grantText = lookup.text(4) ?? ""
            let createdAt = lookup.integer(5)
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
                throw StoreError("refresh family \(familyID) has a corrupt grant")
            }
            try database.prepare("UPDATE refresh_tokens SET spent = 1 WHERE token_hash = ?1").run([.blob(presented)])
            try database.prepare("INSERT INTO refresh_tokens (token_hash, family_id, expires_at) VALUES (?1, ?2, ?3)")
                .run([.blob(successor), .text(familyID), .integer(successorExpiresAt)])
            try database.prepare("UPDATE refresh_families SET expires_at = max(expires_at, ?2) WHERE family_id = ?1")
                .run([.text(familyID), .integer(successorExpiresAt)])
            return .rotated(familyID: familyID, grant: grant, createdAt: createdAt)
        }
    }

    public func familyID(ofToken hash: [UInt8]) throws(StoreError) -> String? {
        try read { database throws(StoreError) -> String? in
            let lookup = try database.prepare("SELECT family_id FROM refresh_tokens WHERE token_hash = ?1")
            try lookup.bind([.blob(hash)])
            return try lookup.step() ? lookup.text(0) : nil
        }
    }
}
