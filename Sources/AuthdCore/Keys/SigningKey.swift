package import AuthdProtocol
import Crypto
#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// One signing key: its id, algorithm, creation time and key material.
package struct SigningKey: Sendable {
    enum Material: Sendable {
        case ed25519(Curve25519.Signing.PrivateKey, Curve25519.Signing.PublicKey)
        case es256(P256.Signing.PrivateKey, P256.Signing.PublicKey)
        case hs256(SymmetricKey)
        /// Another fleet node's key: it verifies, it never signs here.
        case ed25519Peer(Curve25519.Signing.PublicKey)
        case es256Peer(P256.Signing.PublicKey)
    }

    /// The key id: the RFC 7638 thumbprint of the public key, or a hash-derived id for HMAC.
    package let kid: String
    /// When the key was created, Unix seconds. It signs until a newer key exists.
    package let createdAt: Int64
    let material: Material
    /// The encoded JOSE header of tokens this key signs; it never changes, so it is built once.
    package let headerSegment: String

    /// The key's algorithm.
    package var algorithm: SigningAlgorithm {
        switch material {
        case .ed25519, .ed25519Peer: .edDSA
        case .es256, .es256Peer: .es256
        case .hs256: .hs256
        }
    }

    init(material: Material, createdAt: Int64) {
        self.material = material
        self.createdAt = createdAt
        let kid = Self.keyID(for: material)
        self.kid = kid
        let algorithmName: String =
            switch material {
            case .ed25519, .ed25519Peer: "EdDSA"
            case .es256, .es256Peer: "ES256"
            case .hs256: "HS256"
            }
        let header: JSONObject = ["alg": .string(algorithmName), "typ": "at+jwt", "kid": .string(kid)]
        self.headerSegment = Base64URL.encode(JSONWriter.bytes(.object(header)))
    }

    /// A fresh asymmetric key.
    package static func generate(_ algorithm: SigningAlgorithm, createdAt: Int64) -> SigningKey {
        switch algorithm.kind {
        case .edDSA:
            let key = Curve25519.Signing.PrivateKey()
            return SigningKey(material: .ed25519(key, key.publicKey), createdAt: createdAt)
        case .es256, .hs256:
            precondition(algorithm == .es256, "HMAC keys come from a secret file, not from generation")
            let key = P256.Signing.PrivateKey()
            return SigningKey(material: .es256(key, key.publicKey), createdAt: createdAt)
        }
    }

    /// An HMAC key from an operator's secret.
    package static func hmac(secret: [UInt8]) -> SigningKey {
        SigningKey(material: .hs256(SymmetricKey(data: secret)), createdAt: 0)
    }

    /// An asymmetric key from its raw private bytes.
    package static func restore(_ algorithm: SigningAlgorithm, privateKey: [UInt8], createdAt: Int64) throws -> SigningKey {
        switch algorithm.kind {
        case .edDSA:
            let key = try Curve25519.Signing.PrivateKey(rawRepresentation: privateKey)
            return SigningKey(material: .ed25519(key, key.publicKey), createdAt: createdAt)
        case .es256:
            let key = try P256.Signing.PrivateKey(rawRepresentation: privateKey)
            return SigningKey(material: .es256(key, key.publicKey), createdAt: createdAt)
        case .hs256:
            throw StartupError("an HS256 key cannot be stored in the key directory")
        }
    }

    /// Another node's key from the JWK it published. The key id is recomputed from the key (RFC
    /// 7638) and must equal the published one, and the JWK must name the key's own algorithm:
    /// nothing a row in the database says is taken on trust.
    package static func peer(jwk: JSONObject, createdAt: Int64) -> SigningKey? {
        guard case .string(let kty)? = jwk["kty"], case .string(let crv)? = jwk["crv"], case .string(let alg)? = jwk["alg"],
            case .string(let kid)? = jwk["kid"], case .string(let xText)? = jwk["x"], let x = Base64URL.decode(xText)
        else { return nil }
        let key: SigningKey
        switch (kty, crv, alg) {
        case ("OKP", "Ed25519", "EdDSA"):
            guard let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: x) else { return nil }
            key = SigningKey(material: .ed25519Peer(publicKey), createdAt: createdAt)
        case ("EC", "P-256", "ES256"):
            guard case .string(let yText)? = jwk["y"], let y = Base64URL.decode(yText), x.count == 32, y.count == 32,
                let publicKey = try? P256.Signing.PublicKey(rawRepresentation: x + y)
            else { return nil }
            key = SigningKey(material: .es256Peer(publicKey), createdAt: createdAt)
        default:
            return nil
        }
        return key.kid == kid ? key : nil
    }

    /// The raw private key, for the key store.
    var privateKeyBytes: [UInt8] {
        switch material {
        case .ed25519(let key, _): Array(key.rawRepresentation)
        case .es256(let key, _): Array(key.rawRepresentation)
        case .hs256, .ed25519Peer, .es256Peer: []
        }
    }

    /// Signs the JWS signing input.
    package func sign(_ input: some DataProtocol) throws -> [UInt8] {
        switch material {
        case .ed25519(let key, _): return Array(try key.signature(for: input))
        case .es256(let key, _): return Array(try key.signature(for: input).rawRepresentation)
        case .hs256(let key): return Array(HMAC<SHA256>.authenticationCode(for: input, using: key))
        case .ed25519Peer, .es256Peer: throw StartupError("another node's key cannot sign here")
        }
    }

    /// Checks a signature over the JWS signing input. HMAC is compared in constant time.
    package func isValidSignature(_ signature: [UInt8], for input: UnsafeRawBufferPointer) -> Bool {
        switch material {
        case .ed25519(_, let publicKey), .ed25519Peer(let publicKey):
            guard signature.count == 64 else { return false }
            return publicKey.isValidSignature(signature, for: input)
        case .es256(_, let publicKey), .es256Peer(let publicKey):
            guard signature.count == 64, let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return publicKey.isValidSignature(parsed, for: input)
        case .hs256(let key):
            guard signature.count == SHA256.byteCount else { return false }
            return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: key)
        }
    }

    /// The public key as a JWK (RFC 7517), or `nil` for a symmetric key.
    package var publicJWK: JSONObject? {
        guard var jwk = Self.thumbprintMembers(material) else { return nil }
        jwk["kid"] = .string(kid)
        jwk["alg"] = .string(algorithm.name)
        jwk["use"] = "sig"
        return jwk
    }

    /// The members RFC 7638 hashes, in its lexicographic order.
    private static func thumbprintMembers(_ material: Material) -> JSONObject? {
        switch material {
        case .ed25519(_, let publicKey), .ed25519Peer(let publicKey):
            return ["crv": "Ed25519", "kty": "OKP", "x": .string(Base64URL.encode(publicKey.rawRepresentation))]
        case .es256(_, let publicKey), .es256Peer(let publicKey):
            let point = Array(publicKey.rawRepresentation)
            return [
                "crv": "P-256", "kty": "EC",
                "x": .string(Base64URL.encode(point[0..<32])), "y": .string(Base64URL.encode(point[32..<64])),
            ]
        case .hs256:
            return nil
        }
    }

    /// How every HS256 key id begins.
    static let hmacKeyIDPrefix = "hs256-"

    private static func keyID(for material: Material) -> String {
        if let members = thumbprintMembers(material) {
            return Base64URL.encode(SHA256.hash(data: JSONWriter.bytes(.object(members))))
        }
        guard case .hs256(let key) = material else { return "" }
        // A one-way, domain-separated id: it names the secret without revealing anything about it.
        let digest = key.withUnsafeBytes { secret in
            HMAC<SHA256>.authenticationCode(for: Array("authd hs256 key id".utf8), using: SymmetricKey(data: secret))
        }
        return hmacKeyIDPrefix + Base64URL.encode(Array(digest).prefix(12))
    }
}
