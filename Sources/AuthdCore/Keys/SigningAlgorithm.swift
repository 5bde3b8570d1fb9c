/// A JWS algorithm authd can sign and verify with.
///
/// A key is created for exactly one algorithm and verification takes the algorithm from the key,
/// never from a token's header (RFC 8725 §3.1).
public struct SigningAlgorithm: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case edDSA
        case es256
        case hs256
    }

    let kind: Kind

    private init(kind: Kind) { self.kind = kind }

    /// Ed25519 signatures (RFC 8037). The default: small, fast and deterministic.
    public static let edDSA = SigningAlgorithm(kind: .edDSA)
    /// ECDSA with P-256 and SHA-256.
    public static let es256 = SigningAlgorithm(kind: .es256)
    /// HMAC with SHA-256 and a shared secret. The secret cannot be published, so `jwks` is empty.
    public static let hs256 = SigningAlgorithm(kind: .hs256)

    /// Every supported algorithm.
    public static let all: [SigningAlgorithm] = [.edDSA, .es256, .hs256]

    /// The JOSE `alg` name.
    public var name: String {
        switch kind {
        case .edDSA: "EdDSA"
        case .es256: "ES256"
        case .hs256: "HS256"
        }
    }

    /// The algorithm with this exact JOSE name (case-sensitive, as RFC 7515 requires).
    public init?(name: String) {
        guard let match = Self.all.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// Whether keys of this algorithm have a public half that can be published.
    public var isAsymmetric: Bool { kind != .hs256 }

    public var description: String { name }
}
