public import AuthdProtocol
public import Logging

/// Everything about tokens that the daemon serves: issuing, verifying, publishing keys and
/// rotating them. It has no sockets; `AuthdServer` calls it.
public final class TokenService: Sendable {
    /// The configuration it was built from.
    public let configuration: TokenConfiguration
    /// Live counters.
    public let counters: AuthdCounters
    /// Mints tokens.
    public let issuer: TokenIssuer
    /// Checks tokens.
    public let verifier: TokenVerifier
    let keyRing: KeyRing
    /// Other fleet nodes' keys; `nil` on a single host.
    public let fleet: FleetKeys?
    /// The revocations `verify` enforces.
    public let denylist: Denylist
    private let clock: any UnixClock

    /// Opens (or creates) the keys under `stateDirectory` and prepares to serve.
    ///
    /// - Throws: ``StartupError`` for unsafe key files or directories, an unreadable or short
    ///   HMAC secret, or a corrupt key.
    public init(
        configuration: TokenConfiguration, stateDirectory: String, clock: any UnixClock = SystemUnixClock(),
        counters: AuthdCounters = AuthdCounters(), denylist: Denylist = Denylist(), fleet: FleetKeys? = nil, logger: Logger
    ) throws(StartupError) {
        let policy = KeyRing.Policy(
            algorithm: configuration.algorithm, rotationInterval: configuration.keyRotationInterval,
            retention: configuration.maximumTTL + configuration.leeway)
        // The state directory holds the revocation database whatever the algorithm, so it is
        // created and checked even when the keys are an HMAC secret kept elsewhere.
        try PrivateFiles.preparePrivateDirectory(stateDirectory)
        if configuration.algorithm == .hs256 {
            guard let path = configuration.hmacSecretFile else {
                throw StartupError("tokens.hmac_secret_file is required for HS256")
            }
            var secret = try PrivateFiles.readPrivateFile(path, maximumSize: 4096)
            // Editors and `echo` add a final newline; it is never part of the intended secret.
            while let last = secret.last, last == 0x0A || last == 0x0D { secret.removeLast() }
            guard secret.count >= 32 else {
                throw StartupError("\(path) holds \(secret.count) bytes; an HS256 secret needs at least 32")
            }
            keyRing = KeyRing.hmac(secret: secret, policy: policy, logger: logger)
        } else {
            keyRing = try KeyRing.open(
                directory: KeyDirectory(stateDirectory: stateDirectory), policy: policy, now: clock.now(), logger: logger)
        }
        self.configuration = configuration
        self.clock = clock
        self.counters = counters
        let context = TokenContext(
            configuration: configuration, keyRing: keyRing, clock: clock, counters: counters, denylist: denylist,
            cache: VerifiedTokenCache(capacity: configuration.verifyCacheEntries), fleet: fleet)
        self.denylist = denylist
        self.fleet = fleet
        self.issuer = TokenIssuer(context: context)
        self.verifier = TokenVerifier(context: context)
    }

    /// Returns once a token issued now for `subject` would not be born revoked.
    ///
    /// Subject revocations cover tokens issued *at or before* a second, so a token minted in the
    /// same second as a revocation (a login straight after a password change, say) would be dead on
    /// arrival. This waits out the rest of that second instead.
    ///
    /// - Throws: `token_revoked` when the subject's tokens are revoked until a later time.
    public func waitUntilIssuable(subject: String) async throws(AuthdError) {
        for _ in 0..<40 {
            if try isIssuableNow(subject: subject) { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        throw Self.revokedUntilLater(subject)
    }

    /// Whether a token for `subject` may be issued now without waiting: `false` only in the
    /// second of a revocation of the subject's tokens (see ``waitUntilIssuable(subject:)``).
    ///
    /// - Throws: `fleet_unavailable` while this fleet node's key is unpublished; `token_revoked`
    ///   when the subject's tokens are revoked until a later second.
    public func isIssuableNow(subject: String) throws(AuthdError) -> Bool {
        if activeKeyAwaitsPublication {
            throw AuthdError(
                .fleetUnavailable, "this node's signing key is not yet published to the fleet database; it issues once it is")
        }
        guard let watermark = denylist.subjectWatermark(subject) else { return true }
        let now = clock.now()
        guard watermark >= now else { return true }
        guard watermark <= now + 1 else { throw Self.revokedUntilLater(subject) }
        return false
    }

    private static func revokedUntilLater(_ subject: String) -> AuthdError {
        AuthdError(.tokenRevoked, "tokens for subject '\(subject)' are revoked until a later time")
    }

    /// The public keys that verify tokens now, as a JWK Set: this node's and, in a fleet, every
    /// other node's. Empty for HS256.
    public func jwks() -> JWKSResult {
        JWKSResult(keys: keyRing.keySet.keys.compactMap(\.publicJWK) + (fleet?.peerJWKs ?? []))
    }

    /// Whether this fleet node's signing key is not yet known to be in the fleet's database (never
    /// for HS256, whose secret is not published, nor on a single host).
    public var activeKeyAwaitsPublication: Bool {
        guard let fleet, configuration.algorithm != .hs256 else { return false }
        return !fleet.isPublished(activeKeyID)
    }

    /// This node's public keys as it publishes them to a fleet (none for HS256).
    public func publishedKeys(node: String) -> [PublishedKey] {
        keyRing.expiries().compactMap { key, expiresAt in
            key.publicJWK.map { PublishedKey(kid: key.kid, jwk: $0, createdAt: key.createdAt, expiresAt: expiresAt, node: node) }
        }
    }

    /// The id of the key that signs new tokens.
    public var activeKeyID: String { keyRing.keySet.active.kid }

    /// When the key that signs new tokens was created, Unix seconds.
    public var activeKeyCreatedAt: Int64 { keyRing.keySet.active.createdAt }

    /// The wall clock the service reads.
    public var now: Int64 { clock.now() }

    /// Every key id that still verifies.
    public var keyIDs: [String] { keyRing.keySet.keyIDs }

    /// Rotates the signing key if it is due, and drops keys past retention.
    ///
    /// - Returns: whether a new key became active.
    @discardableResult
    public func rotateKeysIfDue() throws(StartupError) -> Bool {
        try keyRing.rotateIfDue(now: clock.now())
    }

    /// ``rotateKeysIfDue()`` for a fleet node: the new key is handed to `publish` (with this
    /// node's other keys, the retiring one now with its expiry) and becomes active only once that
    /// returns. If publishing fails, nothing changes and the current key keeps signing.
    ///
    /// - Returns: whether a new key became active.
    @discardableResult
    public func rotateKeysIfDue(
        node: String, publish: @Sendable ([PublishedKey]) async throws(StoreError) -> Void
    ) async throws(StartupError) -> Bool {
        let now = clock.now()
        guard let successor = keyRing.successorIfDue(now: now) else { return try keyRing.install(nil, now: now) }
        var keys = publishedKeys(node: node)
        if let active = keys.indices.last { keys[active].expiresAt = successor.createdAt + configuration.maximumTTL + configuration.leeway }
        if let jwk = successor.publicJWK {
            keys.append(PublishedKey(kid: successor.kid, jwk: jwk, createdAt: successor.createdAt, expiresAt: nil, node: node))
        }
        do {
            try await publish(keys)
        } catch {
            throw StartupError("the new signing key could not be published to the fleet (\(error.message)); the current key keeps signing")
        }
        fleet?.markPublished(keys.map(\.kid))
        return try keyRing.install(successor, now: now)
    }

    /// Seconds until the next rotation is due (at least 1), or `nil` if keys do not rotate.
    public var secondsUntilRotation: Int64? {
        keyRing.nextRotation.map { max(1, $0 - clock.now()) }
    }

    /// How long a copy of ``jwks()`` may be cached: no longer than until the next key is published
    /// (at most `limit`; 0 when one is due now). In a fleet, the other nodes' keys are assumed to
    /// rotate on the same `key_rotation_interval`: each node's newest key tells when its next is due.
    public func jwksLifetime(limit: Int64) -> Int64 {
        guard let own = keyRing.nextRotation else { return limit }
        let now = clock.now()
        let interval = configuration.keyRotationInterval
        let peerDue = (fleet?.newestPeerKeyCreations ?? []).map { $0 + interval }.filter { $0 > now }
        let due = ([own] + peerDue).min() ?? own
        return min(limit, max(0, due - now))
    }
}
