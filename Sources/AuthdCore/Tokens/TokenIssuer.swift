public import AuthdProtocol

/// Mints access tokens: RFC 9068-shaped JWTs signed by the active key.
public struct TokenIssuer: Sendable {
    private let context: TokenContext
    private var configuration: TokenConfiguration { context.configuration }
    private var keyRing: KeyRing { context.keyRing }
    private var clock: any UnixClock { context.clock }
    private var counters: AuthdCounters { context.counters }

    package init(context: TokenContext) {
        self.context = context
    }

    /// Issues a token for `request`, or refuses it with `bad_request` naming the offending field.
    /// `sessionID` becomes the `sid` claim of tokens minted for a refresh-token family.
    public func issue(_ request: IssueRequest, sessionID: String? = nil) throws(AuthdError) -> IssueResult {
        let limits = configuration.limits
        try limits.checkIdentifier(request.subject, field: "sub")
        let roles = try limits.checkRoles(request.roles, field: "roles")
        let audience = request.audience ?? [configuration.audience]
        guard !audience.isEmpty else { throw .badRequest("field 'aud' must not be an empty array") }
        guard audience.count <= limits.maximumAudiences else {
            throw .badRequest("field 'aud' has more than \(limits.maximumAudiences) entries")
        }
        for entry in audience { try limits.checkIdentifier(entry, field: "aud") }
        let ttl = request.ttl ?? configuration.ttl
        guard ttl >= 1 else { throw .badRequest("field 'ttl' must be at least 1 second") }
        guard ttl <= configuration.maximumTTL else {
            throw .badRequest("field 'ttl' (\(ttl) s) exceeds the maximum of \(configuration.maximumTTL) s")
        }
        for key in request.claims.keys where TokenClaims.reserved.contains(key) {
            throw .badRequest("custom claim '\(key)' is reserved and cannot be set")
        }
        if !request.claims.isEmpty {
            let size = JSONWriter.bytes(.object(request.claims)).count
            guard size <= limits.maximumClaimsBytes else {
                throw .badRequest("field 'claims' takes \(size) bytes; at most \(limits.maximumClaimsBytes) are allowed")
            }
        }

        let now = clock.now()
        let expiresAt = now + ttl
        let jti = Base64URL.encode(secureRandomBytes(16))
        var claims: JSONObject = [
            "iss": .string(configuration.issuer),
            "sub": .string(request.subject),
            "aud": audience.count == 1 ? .string(audience[0]) : .array(audience.map(JSONValue.string)),
            "iat": .int(now),
            "nbf": .int(now),
            "exp": .int(expiresAt),
            "jti": .string(jti),
            "roles": .array(roles.map(JSONValue.string)),
        ]
        if let sessionID { claims["sid"] = .string(sessionID) }
        for (key, value) in request.claims.entries { claims[key] = value }

        let key = keyRing.keySet.active
        let signingInput = key.headerSegment + "." + Base64URL.encode(JSONWriter.bytes(.object(claims)))
        let signature: [UInt8]
        do {
            signature = try key.sign(Array(signingInput.utf8))
        } catch {
            throw AuthdError(.internalError, "signing failed")
        }
        let token = signingInput + "." + Base64URL.encode(signature)
        guard token.utf8.count <= limits.maximumTokenBytes else {
            throw .badRequest("the token would be longer than \(limits.maximumTokenBytes) bytes; send fewer claims")
        }
        counters.recordIssued()
        return IssueResult(accessToken: token, expiresIn: ttl, expiresAt: expiresAt, jti: jti)
    }
}
