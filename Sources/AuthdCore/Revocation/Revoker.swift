public import AuthdProtocol

/// Carries out `revoke`: works out what to record, writes it durably, then enforces it.
public struct Revoker: Sendable {
    private let store: any AuthdStore
    private let clock: any UnixClock

    /// A revoker writing to `store`.
    public init(store: any AuthdStore, clock: any UnixClock = SystemUnixClock()) {
        self.store = store
        self.clock = clock
    }

    /// Revokes what `request` names. Returns only once the revocation is on disk and enforced.
    ///
    /// - Throws: `invalid_token` for a token that is not genuinely ours, `bad_request`, or
    ///   `storage_failure` when the disk refused the write (nothing was revoked).
    public func revoke(_ request: RevokeRequest, tokens: TokenService) async throws(AuthdError) -> RevokeResult {
        try await perform(request, tokens: tokens).result
    }

    /// Revokes what `request` names, as ``revoke(_:tokens:)`` does, and also says what was
    /// recorded, so that the audit trail can name the token id of a token revoked by value.
    public func perform(_ request: RevokeRequest, tokens: TokenService) async throws(AuthdError) -> Revocation {
        let now = clock.now()
        let configuration = tokens.configuration
        // The longest any token issued now could still be accepted.
        let horizon = now + configuration.maximumTTL + configuration.leeway
        let record: RevocationRecord
        switch request.target.kind {
        case .token(let token):
            let identity = try tokens.verifier.authenticatedIdentity(token)
            guard identity.expiresAt + configuration.leeway > now else { return Revocation(result: RevokeResult(revoked: 0), record: nil) }
            record = .token(jti: identity.jti, expiresAt: identity.expiresAt + configuration.leeway)
        case .jti(let jti):
            try configuration.limits.checkIdentifier(jti, field: "jti")
            record = .token(jti: jti, expiresAt: horizon)
        case .subject(let subject, let before):
            try configuration.limits.checkIdentifier(subject, field: "sub")
            let cutoff = before ?? now
            guard cutoff >= 0, cutoff <= now + 86_400 * 365 else {
                throw .badRequest("field 'before' must be a time between 1970 and a year from now")
            }
            record = .subject(subject, before: cutoff, expiresAt: configuration.subjectRevocationExpiry(cutoff: cutoff, now: now))
        case .refreshToken(let refreshToken):
            guard let hash = RefreshService.hash(refreshToken) else {
                throw AuthdError(.invalidRefreshToken, "not a refresh token")
            }
            let familyID: String?
            do {
                familyID = try await store.familyID(ofToken: hash)
            } catch {
                throw error.authdError("cannot read the refresh store")
            }
            guard let familyID else { throw AuthdError(.invalidRefreshToken, "unknown refresh token") }
            record = .family(familyID, expiresAt: horizon + configuration.refreshTTL)
        }
        let propagation: RevocationPropagation
        do {
            propagation = try await store.record([record])
        } catch {
            throw error.authdError("the revocation could not be stored durably")
        }
        tokens.denylist.apply([record])
        let result: RevokeResult
        switch propagation {
        case .local: result = RevokeResult(revoked: 1)
        case .fleet: result = RevokeResult(revoked: 1, propagated: true)
        case .pending: result = RevokeResult(revoked: 1, propagated: false)
        }
        return Revocation(result: result, record: record)
    }
}

/// What a `revoke` did.
public struct Revocation: Sendable {
    /// The reply.
    public let result: RevokeResult
    /// What was recorded durably; `nil` when nothing was (a token that had already expired).
    public let record: RevocationRecord?
}
