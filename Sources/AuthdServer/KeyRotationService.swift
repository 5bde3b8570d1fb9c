public import AuthdCore
public import Logging
public import ServiceLifecycle

/// Rotates the signing key when it is due and drops retired keys past retention.
///
/// It checks every second (a comparison), so a wall-clock jump or a long suspend is noticed at once.
/// A failed rotation (a full disk, say) is logged and retried; the current key keeps signing.
public struct KeyRotationService: Service, CustomStringConvertible {
    /// How a fleet node publishes a new key before it signs with it.
    public typealias Publisher = (node: String, publish: @Sendable ([PublishedKey]) async throws(StoreError) -> Void)

    private let tokens: CurrentTokens
    private let publisher: Publisher?
    private let logger: Logger

    /// A rotation service for the tokens in force in `tokens`; a fleet node's new keys go through
    /// `publish` first, and become active only once published.
    public init(tokens: CurrentTokens, publish: Publisher? = nil, logger: Logger) {
        self.tokens = tokens
        self.publisher = publish
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
            guard await sleepUnlessShuttingDown(for: .seconds(min(wait, 1))) else { return }
            do {
                if let publisher {
                    try await tokens.service.rotateKeysIfDue(node: publisher.node, publish: publisher.publish)
                } else {
                    try tokens.service.rotateKeysIfDue()
                }
            } catch {
                logger.error("key rotation failed; the current key keeps signing", metadata: ["authd.error": "\(error)"])
            }
        }
    }
}
