/// `issue`: mint an access token for a subject.
public struct IssueRequest: AuthdOperation, Hashable {
    package typealias Result = IssueResult
    package static let op = "issue"

    /// The subject (`sub`) the token is about.
    public var subject: String
    /// Roles to put in the token's `roles` claim.
    public var roles: [String]
    /// Audiences (`aud`); `nil` means the daemon's default audience.
    public var audience: [String]?
    /// Lifetime in seconds; `nil` means the daemon's default. Above the daemon's maximum is refused.
    public var ttl: Int64?
    /// Extra claims. Registered and authd-owned claims (`iss`, `sub`, `roles`, …) may not be set here.
    public var claims: JSONObject
    /// Also return a refresh token that `refresh` exchanges for new tokens.
    public var refresh: Bool

    /// An issue request.
    public init(
        subject: String, roles: [String] = [], audience: [String]? = nil, ttl: Int64? = nil, claims: JSONObject = [:],
        refresh: Bool = false
    ) {
        self.subject = subject
        self.roles = roles
        self.audience = audience
        self.ttl = ttl
        self.claims = claims
        self.refresh = refresh
    }

    package init(fields: JSONObject) throws(AuthdError) {
        var reader = FieldReader(fields, context: "issue request")
        subject = try reader.string("sub")
        roles = try reader.optionalStringArray("roles") ?? []
        audience = try reader.optionalStringOrArray("aud")
        ttl = try reader.optionalInt("ttl")
        claims = try reader.optionalObject("claims") ?? [:]
        refresh = try reader.optionalBool("refresh") ?? false
        try reader.finish()
    }

    package var fields: JSONObject {
        var object: JSONObject = ["sub": .string(subject)]
        if !roles.isEmpty { object["roles"] = .strings(roles) }
        if let audience { object["aud"] = .strings(audience) }
        if let ttl { object["ttl"] = .int(ttl) }
        if !claims.isEmpty { object["claims"] = .object(claims) }
        if refresh { object["refresh"] = true }
        return object
    }
}

/// The result of `issue`.
public struct IssueResult: AuthdOperationResult, Hashable {
    /// The signed JWT.
    public var accessToken: String
    /// Always `"Bearer"`.
    public var tokenType: String
    /// Seconds until the token expires.
    public var expiresIn: Int64
    /// When the token expires, in Unix seconds.
    public var expiresAt: Int64
    /// The token's unique id (`jti`), for revocation and audit.
    public var jti: String
    /// An opaque refresh token, when one was asked for (or on `refresh`).
    public var refreshToken: String?
    /// When the refresh token expires, Unix seconds.
    public var refreshExpiresAt: Int64?

    /// An issue result.
    public init(
        accessToken: String, tokenType: String = "Bearer", expiresIn: Int64, expiresAt: Int64, jti: String,
        refreshToken: String? = nil, refreshExpiresAt: Int64? = nil
    ) {
        self.accessToken = accessToken
        self.tokenType = tokenType
        self.expiresIn = expiresIn
        self.expiresAt = expiresAt
        self.jti = jti
        self.refreshToken = refreshToken
        self.refreshExpiresAt = refreshExpiresAt
    }

    package init(result: JSONObject) throws(AuthdError) {
        var reader = FieldReader.result(result)
        accessToken = try reader.string("access_token")
        tokenType = try reader.string("token_type")
        expiresIn = try reader.int("expires_in")
        expiresAt = try reader.int("expires_at")
        jti = try reader.string("jti")
        refreshToken = try reader.optionalString("refresh_token")
        refreshExpiresAt = try reader.optionalInt("refresh_expires_at")
    }

    package var result: JSONObject {
        var object: JSONObject = [
            "access_token": .string(accessToken), "token_type": .string(tokenType),
            "expires_in": .int(expiresIn), "expires_at": .int(expiresAt), "jti": .string(jti),
        ]
        if let refreshToken { object["refresh_token"] = .string(refreshToken) }
        if let refreshExpiresAt { object["refresh_expires_at"] = .int(refreshExpiresAt) }
        return object
    }
}
