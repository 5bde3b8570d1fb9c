public import AuthdProtocol
import Crypto

/// Refresh tokens: opaque, 256 random bits, stored only as SHA-256 hashes, rotated on every use,
/// and grouped in families so that reuse of a spent token revokes everything that came from it
/// (RFC 9700 §4.14.2). Access tokens minted for a family carry its id as `sid`.
public struct RefreshService: Sendable {
    private let store: any AuthdStore
    private let clock: any UnixClock

    /// A service keeping families in `store`.
    public init(store: any AuthdStore, clock: any UnixClock = SystemUnixClock()) {
        self.store = store
        self.clock = clock
    }

    static let prefix = "authd_rt_"

    /// The stored form of a refresh token, or `nil` if it is not one of ours in shape.
    static func hash(_ token: String) -> [UInt8]? {
        guard token.hasPrefix(prefix), let raw = Base64URL.decode(String(token.dropFirst(prefix.count))), raw.count == 32
        else { return nil }
        return Array(SHA256.hash(data: Array(token.utf8)))
    }

    private static func mint() -> (token: String, hash: [UInt8]) {
        let token = prefix + Base64URL.encode(secureRandomBytes(32))
        return (token, Array(SHA256.hash(data: Array(token.utf8))))
    }

    /// `issue` with `refresh: true`: an access token in a new family, and the family's first refresh token.
    public func issue(_ request: IssueRequest, tokens: TokenService) async throws(AuthdError) -> IssueResult {
        let familyID = Base64URL.encode(secureRandomBytes(16))
        var result = try tokens.issuer.issue(request, sessionID: familyID)
        let now = clock.now()
        let refresh = Self.mint()
        let expiresAt = now + tokens.configuration.refreshTTL
        let grant = RefreshGrant(
            subject: request.subject, roles: request.roles, audience: request.audience,
            ttl: request.ttl ?? tokens.configuration.ttl, claims: request.claims)
        do {
            try await store.createFamily(id: familyID, grant: grant, tokenHash: refresh.hash, now: now, expiresAt: expiresAt)
        } catch {
            throw error.authdError("the refresh token could not be stored durably")
        }
        result.refreshToken = refresh.token
        result.refreshExpiresAt = expiresAt
        return result
    }

    /// `refresh`: spends the presented token and returns a new access token and refresh token.
    ///
    /// - Throws: `invalid_refresh_token` (unknown, expired, malformed, or an access token),
    ///   `refresh_reused` (the family is now revoked), `token_revoked` (the family or subject was
    ///   revoked), `storage_failure`.
    public func refresh(_ request: RefreshRequest, tokens: TokenService) async throws(AuthdError) -> IssueResult {
        guard let presented = Self.hash(request.refreshToken) else {
            throw AuthdError(.invalidRefreshToken, "not a refresh token")
        }
        let now = clock.now()
        let configuration = tokens.configuration
        let revocationExpiry = now + configuration.maximumTTL + configuration.leeway
        let successor = Self.mint()
        let successorExpiresAt = now + configuration.refreshTTL
        let rotation: RefreshRotation
        do {
            rotation = try await store.rotate(
                presented: presented, successor: successor.hash, now: now, successorExpiresAt: successorExpiresAt,
                revocationExpiry: revocationExpiry)
        } catch {
            throw error.authdError("the refresh could not be stored durably")
        }
        switch rotation {
        case .unknown: throw AuthdError(.invalidRefreshToken, "unknown refresh token")
        case .expired: throw AuthdError(.invalidRefreshToken, "refresh token expired")
        case .revoked: throw AuthdError(.tokenRevoked, "this refresh token's session has been revoked")
        case .reused(let familyID):
            tokens.denylist.apply([.family(familyID, expiresAt: revocationExpiry)])
            throw AuthdError(.refreshReused, "refresh token reused: the whole session is revoked")
        case .rotated(let familyID, let grant, let createdAt):
            if tokens.denylist.isSubjectRevoked(grant.subject, issuedAt: createdAt) {
                let record = RevocationRecord.family(familyID, expiresAt: revocationExpiry)
                _ = try? await store.record([record])
                tokens.denylist.apply([record])
                throw AuthdError(.tokenRevoked, "the subject's tokens have been revoked")
            }
            let ttl = min(grant.ttl, configuration.maximumTTL)
            var result = try tokens.issuer.issue(
                IssueRequest(subject: grant.subject, roles: grant.roles, audience: grant.audience, ttl: ttl, claims: grant.claims),
                sessionID: familyID)
            result.refreshToken = successor.token
            result.refreshExpiresAt = successorExpiresAt
            return result
        }
    }
}
