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

    /// The grant as stored: a JSON object.
    public var json: JSONObject {
        var object: JSONObject = [
            "sub": .string(subject), "roles": .array(roles.map(JSONValue.string)), "ttl": .int(ttl), "claims": .object(claims),
        ]
        if let audience { object["aud"] = .array(audience.map(JSONValue.string)) }
        return object
    }

    /// A grant read back from its stored form, or `nil` if the object is not exactly one: a
    /// store must report such a row as damaged, never serve it with parts silently dropped.
    public init?(json: JSONObject) {
        guard case .string(let subject)? = json["sub"], case .int(let ttl)? = json["ttl"],
            let roles = Self.strings(json["roles"]), json.entries.allSatisfy({ Self.fields.contains($0.key) })
        else { return nil }
        self.subject = subject
        self.ttl = ttl
        self.roles = roles
        if let audience = json["aud"] {
            guard let list = Self.strings(audience) else { return nil }
            self.audience = list
        } else {
            self.audience = nil
        }
        guard let claims = json["claims"]?.objectValue else { return nil }
        self.claims = claims
    }

    private static let fields: Set<String> = ["sub", "roles", "ttl", "claims", "aud"]

    private static func strings(_ value: JSONValue?) -> [String]? {
        guard let elements = value?.arrayValue else { return nil }
        let strings = elements.compactMap(\.stringValue)
        return strings.count == elements.count ? strings : nil
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
