/// `verify`: check a token and, optionally, the roles it carries.
public struct VerifyRequest: AuthdOperation, Hashable {
    package typealias Result = VerifyResult
    package static let op = "verify"
    package static let isIdempotent = true

    /// The compact JWT to check.
    public var token: String
    /// The audience the caller expects; `nil` means the daemon's default audience.
    public var audience: String?
    /// If set, the token must carry at least one of these roles (else `insufficient_role`).
    public var rolesAny: [String]?
    /// If set, the token must carry every one of these roles (else `insufficient_role`).
    public var rolesAll: [String]?

    /// A verify request.
    public init(token: String, audience: String? = nil, rolesAny: [String]? = nil, rolesAll: [String]? = nil) {
        self.token = token
        self.audience = audience
        self.rolesAny = rolesAny
        self.rolesAll = rolesAll
    }

    package init(fields: JSONObject) throws(AuthdError) {
        var reader = FieldReader(fields, context: "verify request")
        token = try reader.string("token")
        audience = try reader.optionalString("aud")
        rolesAny = try reader.optionalStringArray("roles_any")
        rolesAll = try reader.optionalStringArray("roles_all")
        try reader.finish()
    }

    package var fields: JSONObject {
        var object: JSONObject = ["token": .string(token)]
        if let audience { object["aud"] = .string(audience) }
        if let rolesAny { object["roles_any"] = .strings(rolesAny) }
        if let rolesAll { object["roles_all"] = .strings(rolesAll) }
        return object
    }
}

/// The claims of a token that passed `verify`.
public struct VerifyResult: AuthdOperationResult, Hashable {
    /// Subject.
    public var subject: String
    /// Roles the token carries.
    public var roles: [String]
    /// Audiences the token is for (always a list here, whatever the token's encoding).
    public var audience: [String]
    /// Issuer.
    public var issuer: String
    /// Issued at, Unix seconds.
    public var issuedAt: Int64
    /// Expires at, Unix seconds.
    public var expiresAt: Int64
    /// Token id.
    public var jti: String
    /// The token's other claims (everything not listed above).
    public var claims: JSONObject

    /// A verify result.
    public init(
        subject: String, roles: [String], audience: [String], issuer: String, issuedAt: Int64, expiresAt: Int64,
        jti: String, claims: JSONObject
    ) {
        self.subject = subject
        self.roles = roles
        self.audience = audience
        self.issuer = issuer
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.jti = jti
        self.claims = claims
    }

    package init(result: JSONObject) throws(AuthdError) {
        var reader = FieldReader.result(result)
        subject = try reader.string("sub")
        roles = try reader.optionalStringArray("roles") ?? []
        audience = try reader.optionalStringOrArray("aud") ?? []
        issuer = try reader.string("iss")
        issuedAt = try reader.int("iat")
        expiresAt = try reader.int("exp")
        jti = try reader.string("jti")
        claims = try reader.optionalObject("claims") ?? [:]
    }

    package var result: JSONObject {
        [
            "sub": .string(subject), "roles": .strings(roles), "aud": .strings(audience), "iss": .string(issuer),
            "iat": .int(issuedAt), "exp": .int(expiresAt), "jti": .string(jti), "claims": .object(claims),
        ]
    }
}
