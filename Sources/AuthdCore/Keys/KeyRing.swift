package import Logging
import Synchronization

/// The signing keys over time: it creates them, rotates the active one on schedule, and keeps each
/// retired key only as long as a token it signed could still be accepted.
///
/// A key retires when its successor is created. Tokens it signed expire at most `maximumTTL` later
/// and are accepted for `leeway` beyond that, so it is deleted once `retirement + maximumTTL + leeway`
/// has passed. Readers take a ``KeySet`` snapshot without waiting for a rotation in progress.
package final class KeyRing: Sendable {
    /// How keys are made and kept.
    package struct Policy: Sendable {
        /// The algorithm new keys use.
        package var algorithm: SigningAlgorithm
        /// How long a key signs before a new one replaces it.
        package var rotationInterval: Int64
        /// How long a retired key keeps verifying: the maximum TTL plus the leeway.
        package var retention: Int64

        /// A key policy.
        package init(algorithm: SigningAlgorithm, rotationInterval: Int64, retention: Int64) {
            self.algorithm = algorithm
            self.rotationInterval = rotationInterval
            self.retention = retention
        }
    }

    private let directory: KeyDirectory?
    private let policy: Policy
    private let current: Mutex<KeySet>
    /// Serialises rotations so two callers cannot both create a successor.
    private let rotation = Mutex(())
    private let logger: Logger

    private init(directory: KeyDirectory?, policy: Policy, keys: KeySet, logger: Logger) {
        self.directory = directory
        self.policy = policy
        self.current = Mutex(keys)
        self.logger = logger
    }

    /// A ring with one fixed HMAC key. HMAC secrets are the operator's to rotate.
    package static func hmac(secret: [UInt8], policy: Policy, logger: Logger) -> KeyRing {
        KeyRing(directory: nil, policy: policy, keys: KeySet(keys: [.hmac(secret: secret)]), logger: logger)
    }

    /// Opens the key directory, creating the first key if there is none, and rotates or prunes as
    /// the policy requires at `now`.
    package static func open(
        directory: KeyDirectory, policy: Policy, now: Int64, logger: Logger
    ) throws(StartupError) -> KeyRing {
        try directory.prepare()
        var keys = try directory.load()
        if keys.isEmpty {
            let key = SigningKey.generate(policy.algorithm, createdAt: now)
            try directory.store(key)
            logger.notice("created the first signing key", metadata: ["authd.kid": "\(key.kid)", "authd.alg": "\(key.algorithm)"])
            keys = [key]
        }
        let ring = KeyRing(directory: directory, policy: policy, keys: KeySet(keys: keys), logger: logger)
        try ring.rotateIfDue(now: now)
        return ring
    }

    /// The keys in use now.
    package var keySet: KeySet { current.withLock { $0 } }

    /// Creates a successor if the active key is older than the rotation interval (or of another
    /// algorithm than configured), then drops retired keys past their retention.
    ///
    /// - Returns: whether a new key became active.
    @discardableResult
    package func rotateIfDue(now: Int64) throws(StartupError) -> Bool {
        try install(successorIfDue(now: now), now: now)
    }

    /// A new key, not yet stored or active, if a rotation is due at `now`; `nil` otherwise. A
    /// fleet node publishes it before passing it to ``install(_:now:)``.
    package func successorIfDue(now: Int64) -> SigningKey? {
        guard directory != nil else { return nil }
        let active = keySet.active
        guard now - active.createdAt >= policy.rotationInterval || active.algorithm != policy.algorithm else { return nil }
        // Never create a key dated before the active one, even if the clock went backwards.
        return SigningKey.generate(policy.algorithm, createdAt: max(now, active.createdAt + 1))
    }

    /// Stores `successor` (if any) and makes it the active key, then drops retired keys past
    /// their retention.
    ///
    /// - Returns: whether a new key became active.
    @discardableResult
    package func install(_ successor: SigningKey?, now: Int64) throws(StartupError) -> Bool {
        guard let directory else { return false }
        return try rotation.withLock { _ throws(StartupError) -> Bool in
            var keys = keySet.keys
            let active = keys[keys.count - 1]
            if let successor {
                try directory.store(successor)
                keys.append(successor)
                logger.notice(
                    "rotated the signing key",
                    metadata: [
                        AuditEvent.metadataKey: "\(AuditEvent.keyRotated.messageID)", "authd.kid": "\(successor.kid)",
                        "authd.retired_kid": "\(active.kid)", "authd.alg": "\(successor.algorithm)",
                    ])
            }
            var kept: [SigningKey] = []
            for (index, key) in keys.enumerated() {
                let retiredAt = index + 1 < keys.count ? keys[index + 1].createdAt : nil
                if let retiredAt, now >= retiredAt + policy.retention {
                    try directory.delete(key)
                    logger.info("deleted a retired signing key", metadata: ["authd.kid": "\(key.kid)"])
                } else {
                    kept.append(key)
                }
            }
            let snapshot = KeySet(keys: kept)
            current.withLock { $0 = snapshot }
            return successor != nil
        }
    }

    /// When each of this node's keys stops verifying (its retirement plus the retention), or
    /// `nil` for the active key, whose retirement is not yet known.
    package func expiries() -> [(key: SigningKey, expiresAt: Int64?)] {
        let keys = keySet.keys
        return keys.enumerated().map { index, key in
            (key, index + 1 < keys.count ? keys[index + 1].createdAt + policy.retention : nil)
        }
    }

    /// When the next rotation is due, Unix seconds, or `nil` if keys do not rotate.
    package var nextRotation: Int64? {
        guard directory != nil else { return nil }
        return keySet.active.createdAt + policy.rotationInterval
    }
}
