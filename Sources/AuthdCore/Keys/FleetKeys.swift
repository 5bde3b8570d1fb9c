public import AuthdProtocol
import Synchronization

/// A key as a fleet node publishes it: the public JWK, never the private key.
public struct PublishedKey: Sendable, Hashable {
    /// The key id (RFC 7638 thumbprint).
    public var kid: String
    /// The public key as a JWK, with `kid`, `alg` and `use`.
    public var jwk: JSONObject
    /// When the key was created, Unix seconds.
    public var createdAt: Int64
    /// When the key stops verifying (its retirement plus the longest token lifetime and the
    /// leeway), or `nil` while it is the node's active key.
    public var expiresAt: Int64?
    /// The node that owns it.
    public var node: String

    /// A published key.
    public init(kid: String, jwk: JSONObject, createdAt: Int64, expiresAt: Int64?, node: String) {
        self.kid = kid
        self.jwk = jwk
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.node = node
    }
}

/// What a fleet node's token service knows of the other nodes' keys, and which of its own keys the
/// fleet already knows. It outlives a reload of the token settings.
///
/// Every node verifies every node's tokens: a token whose `kid` is not one of this node's keys is
/// checked with the peer key of that id, if another node published one. A node signs only with a
/// key it has published, so a token it issues verifies everywhere from the start.
public final class FleetKeys: Sendable {
    /// The node's standing with the fleet (for `on_stale`).
    public let health: FleetHealth
    private let peers = Mutex<[String: SigningKey]>([:])
    /// When each peer node's newest accepted key was created.
    private let newestByNode = Mutex<[String: Int64]>([:])
    private let published: Mutex<Set<String>>

    /// Fleet keys for a node whose keys `publishedKeyIDs` are known to be published.
    public init(health: FleetHealth, publishedKeyIDs: Set<String> = []) {
        self.health = health
        self.published = Mutex(publishedKeyIDs)
    }

    /// The other node's key with this id, if one was published.
    package func peer(withID kid: String) -> SigningKey? { peers.withLock { $0[kid] } }

    /// Replaces the peer keys with `keys` (every node's published keys; this node's own, by
    /// `ownKeyIDs`, are left out). Returns the ids of those refused: a JWK that is not a valid
    /// Ed25519 or P-256 public key whose thumbprint is its `kid`.
    @discardableResult
    public func installPeers(_ keys: [PublishedKey], ownKeyIDs: Set<String>) -> [String] {
        var accepted: [String: SigningKey] = [:]
        var newest: [String: Int64] = [:]
        var refused: [String] = []
        for key in keys where !ownKeyIDs.contains(key.kid) {
            if let peer = SigningKey.peer(jwk: key.jwk, createdAt: key.createdAt), peer.kid == key.kid {
                accepted[key.kid] = peer
                newest[key.node] = max(newest[key.node] ?? key.createdAt, key.createdAt)
            } else {
                refused.append(key.kid)
            }
        }
        peers.withLock { $0 = accepted }
        newestByNode.withLock { $0 = newest }
        return refused
    }

    /// The peer keys' JWKs, for `jwks`.
    public var peerJWKs: [JSONObject] {
        peers.withLock { $0.values.sorted { $0.createdAt < $1.createdAt }.compactMap(\.publicJWK) }
    }

    /// When each peer node's newest key was created (a node's next key follows its newest).
    public var newestPeerKeyCreations: [Int64] { newestByNode.withLock { Array($0.values) } }

    /// Ids of the peer keys.
    public var peerKeyIDs: Set<String> { peers.withLock { Set($0.keys) } }

    /// Records that these keys of this node are committed in the shared database.
    public func markPublished(_ kids: some Sequence<String>) { published.withLock { $0.formUnion(kids) } }

    /// Whether this node's key `kid` is known to be published.
    public func isPublished(_ kid: String) -> Bool { published.withLock { $0.contains(kid) } }
}
