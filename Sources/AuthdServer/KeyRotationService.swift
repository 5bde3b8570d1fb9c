import AuthdCore
public import Logging
public import ServiceLifecycle

/// Rotates the signing key when it is due and drops retired keys past retention.
///
/// It wakes at least once a minute, so a wall-clock jump or a long suspend is noticed promptly.
/// A failed rotation (a full disk, say) is logged and retried; the current key keeps signing.
public struct KeyRotationService: Service, CustomStringConvertible {
    private let tokens: CurrentTokens
    private let logger: Logger

    /// A rotation service for the tokens in force in `tokens`.
    public init(tokens: CurrentTokens, logger: Logger) {
        self.tokens = tokens
        self.logger = logger
    }

    public var description: String { "KeyRotationService" }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            guard let wait = tokens.service.secondsUntilRotation else {
                // Keys that never rotate (an HMAC secret): stay until shutdown, since a service
                // that returns early would stop the whole group.
                try? await gracefulShutdown()
                return
            }
            guard await sleepUnlessShuttingDown(for: .seconds(min(wait, 60))) else { return }
            do {
                try tokens.service.rotateKeysIfDue()
            } catch {
                logger.error("key rotation failed; the current key keeps signing", metadata: ["authd.error": "\(error)"])
            }
        }
    }
}
