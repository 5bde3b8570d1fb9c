/// `revoke`: kill a token, every token of a subject, or (later) a refresh-token family — now.
///
/// Exactly one of `token`, `jti` or `sub` is given. The reply comes only after the revocation is
/// on disk.
public struct RevokeRequest: AuthdOperation, Hashable {
    public typealias Result = RevokeResult
    public static let op = "revoke"
    /// Revoking twice has the effect of revoking once.
    public static let isIdempotent = true

    /// What to revoke.
    public enum Target: Sendable, Hashable {
        /// A token, by its `jti` (so any re-encoding of the same token stays revoked).
        case token(String)
        /// A token id.
        case jti(String)
        /// Every token of a subject issued at or before `before` (Unix seconds; default now).
        case subject(String, before: Int64?)
        /// A refresh token's whole family, and every access token minted from it.
        case refreshToken(String)
    }

    /// What to revoke.
    public var target: Target

    /// A revoke request.
    public init(_ target: Target) { self.target = target }

    public init(fields: JSONObject) throws(AuthdError) {
        var reader = FieldReader(fields, context: "revoke request")
        let token = try reader.optionalString("token")
        let jti = try reader.optionalString("jti")
        let subject = try reader.optionalString("sub")
        let before = try reader.optionalInt("before")
        let refreshToken = try reader.optionalString("refresh_token")
        try reader.finish()
        switch (token, jti, subject, refreshToken) {
        case (let token?, nil, nil, nil) where before == nil: target = .token(token)
        case (nil, let jti?, nil, nil) where before == nil: target = .jti(jti)
        case (nil, nil, let subject?, nil): target = .subject(subject, before: before)
        case (nil, nil, nil, let refreshToken?) where before == nil: target = .refreshToken(refreshToken)
        default:
            throw .badRequest(
                "give exactly one of 'token', 'jti', 'sub' or 'refresh_token' ('before' goes only with 'sub')")
        }
    }

    public var fields: JSONObject {
        switch target {
        case .token(let token): return ["token": .string(token)]
        case .jti(let jti): return ["jti": .string(jti)]
        case .subject(let subject, let before):
            var object: JSONObject = ["sub": .string(subject)]
            if let before { object["before"] = .int(before) }
            return object
        case .refreshToken(let token): return ["refresh_token": .string(token)]
        }
    }
}

/// The result of `revoke`.
public struct RevokeResult: AuthdOperationResult, Hashable {
    /// How many revocations were recorded (0 for a token that had already expired).
    public var revoked: Int64

    /// A revoke result.
    public init(revoked: Int64) { self.revoked = revoked }

    public init(result: JSONObject) throws(AuthdError) {
        var reader = FieldReader.result(result)
        revoked = try reader.int("revoked")
    }

    public var result: JSONObject { ["revoked": .int(revoked)] }
}
