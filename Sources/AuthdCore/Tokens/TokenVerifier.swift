public import AuthdProtocol

/// Verifies access tokens strictly, following RFC 8725 rather than the token's own say-so.
///
/// The order of checks matters: nothing in the claims is looked at (not even `exp`) until the
/// signature is proven by a key found by exact `kid`, whose algorithm is the only one tried.
/// Every failure before that point is `invalid_token`, so a forger learns nothing from the error.
public struct TokenVerifier: Sendable {
    private let context: TokenContext
    private var configuration: TokenConfiguration { context.configuration }
    private var keyRing: KeyRing { context.keyRing }
    private var clock: any UnixClock { context.clock }
    private var counters: AuthdCounters { context.counters }

    package init(context: TokenContext) {
        self.context = context
    }

    /// Verifies `request.token` and its audience and roles.
    ///
    /// - Throws: `invalid_token`, `token_expired`, `token_not_yet_valid`, `wrong_audience` (the
    ///   token is not good: HTTP 401), `insufficient_role` (good token, missing role: HTTP 403), or
    ///   `bad_request` for a malformed request.
    public func verify(_ request: VerifyRequest) throws(AuthdError) -> VerifyResult {
        try verifiedToken(request).result
    }

    /// ``verify(_:)``, answering with the verified token, whose result is already encoded.
    public func verifiedToken(_ request: VerifyRequest) throws(AuthdError) -> VerifiedToken {
        if let rolesAny = request.rolesAny, rolesAny.isEmpty { throw .badRequest("field 'roles_any' must not be empty") }
        if let rolesAll = request.rolesAll, rolesAll.isEmpty { throw .badRequest("field 'roles_all' must not be empty") }
        do {
            let verified: VerifiedToken
            // A stale node that refuses other nodes' tokens must not answer one from the cache.
            if context.fleet?.health.refusesPeerTokens != true, let cached = context.cache.lookup(request.token) {
                verified = cached
            } else {
                verified = try structure(verifiedClaims(request.token))
                context.cache.insert(request.token, verified)
            }
            try check(verified, token: request.token, audience: request.audience ?? configuration.audience)
            try checkRoles(verified.result.roles, request: request)
            counters.recordVerified()
            return verified
        } catch {
            counters.recordRejected()
            throw error
        }
    }

    /// Tokens in the verified-token cache now.
    public var cacheCount: Int { context.cache.count }

    /// Verifications answered from the cache, and those that checked the signature.
    public var cacheStatistics: (hits: Int64, misses: Int64) { (context.cache.hits, context.cache.misses) }

    /// Parses the compact serialisation, checks the header and the signature, and returns the
    /// claims object.
    func verifiedClaims(_ token: String) throws(AuthdError) -> JSONObject {
        let bytes = Array(token.utf8)
        guard bytes.count <= configuration.limits.maximumTokenBytes else {
            throw invalid("token is longer than \(configuration.limits.maximumTokenBytes) bytes")
        }
        guard let firstDot = bytes.firstIndex(of: UInt8(ascii: ".")),
            let secondDot = bytes[(firstDot + 1)...].firstIndex(of: UInt8(ascii: ".")),
            !bytes[(secondDot + 1)...].contains(UInt8(ascii: "."))
        else { throw invalid("not a compact JWS with three segments") }

        let header = try decodeObject(bytes[..<firstDot], part: "header")
        let key = try signingKey(for: header)
        guard let signature = Base64URL.decode(bytes[(secondDot + 1)...]) else {
            throw invalid("signature is not canonical base64url")
        }
        let signatureValid = bytes.withUnsafeBytes { raw in
            key.isValidSignature(signature, for: UnsafeRawBufferPointer(rebasing: raw[..<secondDot]))
        }
        guard signatureValid else { throw invalid("signature does not verify") }
        return try decodeObject(bytes[(firstDot + 1)..<secondDot], part: "payload")
    }

    /// Finds the key by exact `kid` and insists that the header agrees with it.
    private func signingKey(for header: JSONObject) throws(AuthdError) -> SigningKey {
        for name in header.keys where TokenClaims.forbiddenHeaderParameters.contains(name) {
            throw invalid("header parameter '\(name)' is not accepted")
        }
        guard case .string(let typ)? = header["typ"], Self.isAccessTokenType(typ) else {
            throw invalid("header 'typ' must be at+jwt")
        }
        guard case .string(let kid)? = header["kid"] else { throw invalid("header has no 'kid'") }
        var found = keyRing.keySet.key(withID: kid)
        if found == nil { found = try peerKey(kid) }
        guard let key = found else { throw invalid(unknownKeyReason(kid)) }
        guard case .string(let alg)? = header["alg"], alg == key.algorithm.name else {
            throw invalid("header 'alg' does not match the key's algorithm")
        }
        return key
    }

    /// Why `kid` names no key, in words an operator can act on. An HS256 key id is derived from
    /// the secret, so on an HS256 fleet node another HS256 key id means another secret: the usual
    /// cause is a node given a different `hmac_secret_file`. (The kid itself is not echoed: it
    /// comes from the token.)
    private func unknownKeyReason(_ kid: String) -> String {
        guard context.fleet != nil, keyRing.keySet.active.algorithm == .hs256, kid.hasPrefix(SigningKey.hmacKeyIDPrefix) else {
            return "unknown key id"
        }
        return "unknown key id: an HS256 key id that is not this node's, so signed with another secret "
            + "(every node of a fleet must use the same hmac_secret_file)"
    }

    /// Another fleet node's key, unless this node is too stale to vouch for its tokens.
    private func peerKey(_ kid: String) throws(AuthdError) -> SigningKey? {
        guard let fleet = context.fleet, let key = fleet.peer(withID: kid) else { return nil }
        if fleet.health.refusesPeerTokens {
            throw AuthdError(
                .fleetUnavailable,
                "this node has not caught up with the fleet for over \(fleet.health.maximumStaleness) s; it refuses other nodes' tokens (on_stale = \"refuse\")")
        }
        return key
    }

    /// Whether `token` names a key id that neither this node nor a known peer has: a fleet node
    /// then re-reads the fleet's keys (a peer may have just rotated) before refusing it.
    public func referencesUnknownKey(_ token: String) -> Bool {
        let bytes = Array(token.utf8.prefix(configuration.limits.maximumTokenBytes))
        guard let dot = bytes.firstIndex(of: UInt8(ascii: ".")), let header = try? decodeObject(bytes[..<dot], part: "header"),
            case .string(let kid)? = header["kid"]
        else { return false }
        return keyRing.keySet.key(withID: kid) == nil && context.fleet?.peer(withID: kid) == nil
    }

    /// RFC 9068 §4: `at+jwt`, or the full media type; media types compare case-insensitively.
    private static func isAccessTokenType(_ typ: String) -> Bool {
        let lowered = typ.lowercased()
        return lowered == "at+jwt" || lowered == "application/at+jwt"
    }

    private func decodeObject(_ segment: ArraySlice<UInt8>, part: String) throws(AuthdError) -> JSONObject {
        guard !segment.isEmpty, let decoded = Base64URL.decode(segment) else {
            throw invalid("\(part) is not canonical base64url")
        }
        let value: JSONValue
        do {
            value = try JSONParser(maximumDepth: 16).parse(decoded)
        } catch {
            throw invalid("\(part) is not valid JSON: \(error.reason)")
        }
        guard case .object(let object) = value else { throw invalid("\(part) is not a JSON object") }
        return object
    }

    /// The identity of a genuine token of ours, whatever its times: for revoking it by value.
    /// Everything up to the signature is checked as strictly as `verify` does.
    func authenticatedIdentity(_ token: String) throws(AuthdError) -> (jti: String, subject: String, expiresAt: Int64) {
        let result = try structure(verifiedClaims(token)).result
        return (result.jti, result.subject, result.expiresAt)
    }

    /// The claims of a token whose signature is good, checked for shape: everything about the
    /// token that does not change with time. This is what the cache keeps.
    private func structure(_ claims: JSONObject) throws(AuthdError) -> VerifiedToken {
        guard case .string(let issuer)? = claims["iss"], issuer == configuration.issuer else {
            throw invalid("issuer is not this authd")
        }
        guard case .string(let subject)? = claims["sub"], !subject.isEmpty else { throw invalid("token has no 'sub'") }
        guard case .string(let jti)? = claims["jti"], !jti.isEmpty else { throw invalid("token has no 'jti'") }
        let expiresAt = try timeClaim(claims, "exp", required: true)!
        let issuedAt = try timeClaim(claims, "iat", required: true)!
        let notBefore = try timeClaim(claims, "nbf", required: false)
        let audience = try stringList(claims["aud"], claim: "aud", required: true, allowsSingleString: true)
        let roles = try stringList(claims["roles"], claim: "roles", required: false, allowsSingleString: false)
        var extra = JSONObject()
        for (name, value) in claims.entries where !TokenClaims.standard.contains(name) { extra[name] = value }
        let result = VerifyResult(
            subject: subject, roles: roles, audience: audience, issuer: issuer, issuedAt: issuedAt,
            expiresAt: expiresAt, jti: jti, claims: extra)
        return VerifiedToken(result: result, notBefore: notBefore, sessionID: claims["sid"]?.stringValue)
    }

    /// The checks that depend on the moment and on the request: lifetime, revocation, audience.
    private func check(_ verified: VerifiedToken, token: String, audience expected: String) throws(AuthdError) {
        let result = verified.result
        let now = clock.now()
        let leeway = configuration.leeway
        guard now < result.expiresAt + leeway else {
            context.cache.remove(token)
            throw AuthdError(.tokenExpired, "token expired at \(result.expiresAt)")
        }
        if let notBefore = verified.notBefore, now + leeway < notBefore {
            throw AuthdError(.tokenNotYetValid, "token is not valid before \(notBefore)")
        }
        guard now + leeway >= result.issuedAt else { throw AuthdError(.tokenNotYetValid, "token was issued in the future") }
        guard
            !context.denylist.isRevoked(
                key: verified.denylistKey, subject: result.subject, issuedAt: result.issuedAt, sessionID: verified.sessionID)
        else {
            throw AuthdError(.tokenRevoked, "token has been revoked")
        }
        guard result.audience.contains(expected) else {
            throw AuthdError(.wrongAudience, "token is not for audience '\(expected)'")
        }
    }

    private func checkRoles(_ roles: [String], request: VerifyRequest) throws(AuthdError) {
        if let rolesAll = request.rolesAll, let missing = rolesAll.first(where: { !roles.contains($0) }) {
            throw AuthdError(.insufficientRole, "token lacks required role '\(missing)'")
        }
        if let rolesAny = request.rolesAny, !rolesAny.contains(where: roles.contains) {
            throw AuthdError(.insufficientRole, "token has none of the roles \(rolesAny.joined(separator: ", "))")
        }
    }

    /// Latest NumericDate accepted: 9999-12-31T23:59:59Z. Anything later is an attack or a bug.
    private static let latestTime: Double = 253_402_300_799

    private func timeClaim(_ claims: JSONObject, _ name: String, required: Bool) throws(AuthdError) -> Int64? {
        guard let value = claims[name] else {
            if required { throw invalid("token has no '\(name)'") }
            return nil
        }
        guard let seconds = value.doubleValue, seconds.isFinite else { throw invalid("'\(name)' is not a number") }
        guard seconds >= 0, seconds <= Self.latestTime else { throw invalid("'\(name)' is out of range") }
        return Int64(seconds.rounded(.down))
    }

    /// `aud` may be one string or an array (RFC 7519 §4.1.3); `roles` is always an array.
    private func stringList(
        _ value: JSONValue?, claim: String, required: Bool, allowsSingleString: Bool
    ) throws(AuthdError) -> [String] {
        switch value {
        case nil:
            if required { throw invalid("token has no '\(claim)'") }
            return []
        case .string(let single)? where allowsSingleString:
            return [single]
        case .array(let elements)?:
            var strings: [String] = []
            for element in elements {
                guard case .string(let string) = element else { throw invalid("'\(claim)' must hold strings") }
                strings.append(string)
            }
            return strings
        default:
            throw invalid("'\(claim)' has the wrong type")
        }
    }

    private func invalid(_ reason: String) -> AuthdError { AuthdError(.invalidToken, reason) }
}
