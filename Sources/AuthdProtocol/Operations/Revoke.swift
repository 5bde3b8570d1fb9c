/// `revoke`: kill a token, every token of a subject, or (later) a refresh-token family — now.
///
/// Exactly one of `token`, `jti` or `sub` is given. The reply comes only after the revocation is
/// on disk.
public struct RevokeRequest: AuthdOperation, Hashable {
    package typealias Result = RevokeResult
    package static let op = "revoke"
    /// Revoking twice has the effect of revoking once.
    package static let isIdempotent = true

    /// What to revoke: ``token(_:)``, ``jti(_:)``, ``subject(_:before:)`` or ``refreshToken(_:)``.
    ///
    /// A struct rather than a public enum, so that a later kind of target is not a breaking change
    /// for code that switches over these.
    public struct Target: Sendable, Hashable, CustomStringConvertible {
        package enum Kind: Sendable, Hashable {
            case token(String)
            case jti(String)
            case subject(String, before: Int64?)
            case refreshToken(String)
        }

        /// Which target, for authd's own code.
        package let kind: Kind

        /// A token, by its `jti` (so any re-encoding of the same token stays revoked).
        public static func token(_ token: String) -> Target { Target(kind: .token(token)) }
        /// A token id.
        public static func jti(_ jti: String) -> Target { Target(kind: .jti(jti)) }
        /// Every token of a subject issued at or before `before` (Unix seconds; `nil`: now).
        public static func subject(_ subject: String, before: Int64? = nil) -> Target { Target(kind: .subject(subject, before: before)) }
        /// A refresh token's whole family, and every access token minted from it.
        public static func refreshToken(_ token: String) -> Target { Target(kind: .refreshToken(token)) }

        /// What is revoked, without the secret: a token or refresh token is never spelt out.
        public var description: String {
            switch kind {
            case .token: "a token"
            case .jti(let jti): "jti \(jti)"
            case .subject(let subject, let before): "subject \(subject)" + (before.map { " before \($0)" } ?? "")
            case .refreshToken: "a refresh token's session"
            }
        }
    }

    /// What to revoke.
    public var target: Target

    /// A revoke request.
    public init(_ target: Target) { self.target = target }

    package init(fields: JSONObject) throws(AuthdError) {
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

    package var fields: JSONObject {
        switch target.kind {
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
    /// On a fleet node: `true` once the revocation is committed in the shared database (every node
    /// enforces it), `false` when the database could not be reached and the revocation is enforced
    /// on this node and published when the database returns. `nil` on a single host.
    public var propagated: Bool?

    /// A revoke result.
    public init(revoked: Int64, propagated: Bool? = nil) {
        self.revoked = revoked
        self.propagated = propagated
    }

    package init(result: JSONObject) throws(AuthdError) {
        var reader = FieldReader.result(result)
        revoked = try reader.int("revoked")
        propagated = try reader.optionalBool("propagated")
    }

    package var result: JSONObject {
        var object: JSONObject = ["revoked": .int(revoked)]
        if let propagated { object["propagated"] = .bool(propagated) }
        return object
    }
}
