@testable import AuthdCore
import AuthdProtocol
import Foundation
import Logging
import Testing

@Suite("Signing keys: persistence, rotation, JWKS, algorithms")
struct KeyTests {
    @Test("keys are created private (0700/0600) and survive a restart")
    func persistence() throws {
        let fixture = try TokenFixture()
        let keysPath = fixture.stateDirectory + "/keys"
        let dirMode = try #require(FileManager.default.attributesOfItem(atPath: keysPath)[.posixPermissions] as? Int)
        #expect(dirMode == 0o700)
        let files = try FileManager.default.contentsOfDirectory(atPath: keysPath)
        #expect(files.count == 1)
        let fileMode = try #require(FileManager.default.attributesOfItem(atPath: keysPath + "/" + files[0])[.posixPermissions] as? Int)
        #expect(fileMode == 0o600)
        let token = try fixture.issue()
        let restarted = try fixture.reopened()
        #expect(restarted.activeKeyID == fixture.service.activeKeyID)
        #expect(try restarted.verifier.verify(VerifyRequest(token: token)).subject == "alice")
    }

    @Test("refuses a key file readable by group or others")
    func refusesReadableKey() throws {
        let fixture = try TokenFixture()
        let keysPath = fixture.stateDirectory + "/keys"
        let file = keysPath + "/" + (try FileManager.default.contentsOfDirectory(atPath: keysPath))[0]
        chmod(file, 0o640)
        #expect(throws: StartupError.self) { try fixture.reopened() }
        chmod(file, 0o604)
        #expect(throws: StartupError.self) { try fixture.reopened() }
        chmod(file, 0o600)
        _ = try fixture.reopened()
    }

    @Test("refuses a symlinked key file")
    func refusesSymlink() throws {
        let fixture = try TokenFixture()
        let keysPath = fixture.stateDirectory + "/keys"
        let name = (try FileManager.default.contentsOfDirectory(atPath: keysPath))[0]
        let outside = fixture.directory.path + "/outside.json"
        try FileManager.default.moveItem(atPath: keysPath + "/" + name, toPath: outside)
        try FileManager.default.createSymbolicLink(atPath: keysPath + "/" + name, withDestinationPath: outside)
        let error = #expect(throws: StartupError.self) { try fixture.reopened() }
        #expect(error?.message.contains("symlink") == true)
    }

    @Test("refuses a state or key directory that group or others can enter")
    func refusesOpenDirectory() throws {
        let fixture = try TokenFixture()
        chmod(fixture.stateDirectory, 0o750)
        #expect(throws: StartupError.self) { try fixture.reopened() }
        chmod(fixture.stateDirectory, 0o700)
        chmod(fixture.stateDirectory + "/keys", 0o755)
        #expect(throws: StartupError.self) { try fixture.reopened() }
    }

    @Test("refuses a corrupt key file rather than replacing it")
    func refusesCorruptKey() throws {
        let fixture = try TokenFixture()
        let keysPath = fixture.stateDirectory + "/keys"
        let file = keysPath + "/" + (try FileManager.default.contentsOfDirectory(atPath: keysPath))[0]
        try Data("{\"kid\":1}".utf8).write(to: URL(fileURLWithPath: file))
        #expect(throws: StartupError.self) { try fixture.reopened() }
    }

    @Test("rotation: a new key signs, the retired key verifies until its tokens expire, then it is dropped")
    func rotation() throws {
        let fixture = try TokenFixture {
            $0.keyRotationInterval = 3600
            $0.maximumTTL = 600
            $0.ttl = 600
            $0.leeway = 30
        }
        let firstKid = fixture.service.activeKeyID
        #expect(try fixture.service.rotateKeysIfDue() == false)
        fixture.clock.advance(by: 3599)
        #expect(try fixture.service.rotateKeysIfDue() == false)
        fixture.clock.advance(by: 1)
        let oldToken = try fixture.issue()  // signed by the old key at the last instant it is active
        #expect(try fixture.service.rotateKeysIfDue() == true)
        let secondKid = fixture.service.activeKeyID
        #expect(secondKid != firstKid)
        #expect(fixture.service.keyIDs == [firstKid, secondKid])
        #expect(Set(fixture.service.jwks().keys.compactMap { $0["kid"]?.stringValue }) == [firstKid, secondKid])
        let newToken = try fixture.issue()
        #expect(String(newToken.split(separator: ".")[0]) != String(oldToken.split(separator: ".")[0]))
        // The retired key keeps verifying its tokens for their whole life plus leeway.
        fixture.clock.advance(by: 600 + 29)
        try fixture.service.rotateKeysIfDue()
        #expect(fixture.verifyCode(oldToken) == nil)
        #expect(fixture.service.keyIDs.contains(firstKid))
        fixture.clock.advance(by: 1)
        try fixture.service.rotateKeysIfDue()
        #expect(fixture.service.keyIDs == [secondKid])
        #expect(fixture.service.jwks().keys.count == 1)
        #expect(fixture.verifyCode(newToken) == .tokenExpired)
        // After a restart the retired key stays gone and the active one stays active.
        let restarted = try fixture.reopened()
        #expect(restarted.keyIDs == [secondKid])
    }

    @Test("switching the configured algorithm rotates to a key of the new algorithm at once")
    func algorithmSwitch() throws {
        let fixture = try TokenFixture()
        let edToken = try fixture.issue()
        var configuration = fixture.configuration
        configuration.algorithm = .es256
        let switched = try TokenService(
            configuration: configuration, stateDirectory: fixture.stateDirectory, clock: fixture.clock, logger: Logger(label: "t"))
        #expect(switched.keyIDs.count == 2)
        let es = try switched.issuer.issue(IssueRequest(subject: "a")).accessToken
        let header = try JSONParser().parse(try #require(Base64URL.decode(String(es.split(separator: ".")[0]))))
        #expect(header.objectValue?["alg"] == "ES256")
        #expect(try switched.verifier.verify(VerifyRequest(token: edToken)).subject == "alice")
        #expect(try switched.verifier.verify(VerifyRequest(token: es)).subject == "a")
    }

    @Test("JWKS publishes only public parts with kid, alg and use; the kid is the RFC 7638 thumbprint")
    func jwks() throws {
        let fixture = try TokenFixture()
        let keys = fixture.service.jwks().keys
        #expect(keys.count == 1)
        let jwk = keys[0]
        #expect(Set(jwk.keys) == ["crv", "kty", "x", "kid", "alg", "use"])
        #expect(jwk["kty"] == "OKP")
        #expect(jwk["crv"] == "Ed25519")
        #expect(jwk["alg"] == "EdDSA")
        #expect(jwk["use"] == "sig")
        #expect(Base64URL.decode(jwk["x"]?.stringValue ?? "")?.count == 32)
        #expect(jwk["d"] == nil)
        // RFC 7638 §3.1's canonical member order, hashed, must give the kid.
        let canonical = #"{"crv":"Ed25519","kty":"OKP","x":"\#(jwk["x"]!.stringValue!)"}"#
        let thumbprint = Base64URL.encode(SHA256Digest(canonical))
        #expect(jwk["kid"]?.stringValue == thumbprint)
    }

    @Test("ES256 keys sign and verify, and publish an EC JWK")
    func es256() throws {
        let fixture = try TokenFixture { $0.algorithm = .es256 }
        let token = try fixture.issue(roles: ["x"])
        #expect(try fixture.verify(token).roles == ["x"])
        let jwk = fixture.service.jwks().keys[0]
        #expect(jwk["kty"] == "EC")
        #expect(jwk["crv"] == "P-256")
        #expect(jwk["alg"] == "ES256")
        #expect(Base64URL.decode(jwk["y"]?.stringValue ?? "")?.count == 32)
        #expect(fixture.verifyCode(try fixture.craft(header: #"{"alg":"EdDSA","typ":"at+jwt","kid":"\#(fixture.activeKey.kid)"}"#)) == .invalidToken)
    }

    @Test("HS256: secret from a private file of at least 32 bytes; jwks stays empty")
    func hs256() throws {
        let directory = TemporaryDirectory()
        let secretPath = directory.path + "/secret"
        try Data(String(repeating: "k", count: 32).appending("\n").utf8).write(to: URL(fileURLWithPath: secretPath))
        chmod(secretPath, 0o600)
        var configuration = TokenConfiguration()
        configuration.algorithm = .hs256
        configuration.hmacSecretFile = secretPath
        let clock = ManualUnixClock(TokenFixture.start)
        let service = try TokenService(
            configuration: configuration, stateDirectory: directory.path + "/state", clock: clock, logger: Logger(label: "t"))
        #expect(service.jwks().keys.isEmpty)
        #expect(service.activeKeyID.hasPrefix("hs256-"))
        #expect(!service.activeKeyID.contains("kkkk"))
        let token = try service.issuer.issue(IssueRequest(subject: "svc")).accessToken
        #expect(try service.verifier.verify(VerifyRequest(token: token)).subject == "svc")

        chmod(secretPath, 0o644)
        #expect(throws: StartupError.self) {
            try TokenService(configuration: configuration, stateDirectory: directory.path + "/state", clock: clock, logger: Logger(label: "t"))
        }
        try Data(String(repeating: "k", count: 31).utf8).write(to: URL(fileURLWithPath: secretPath))
        chmod(secretPath, 0o600)
        let short = #expect(throws: StartupError.self) {
            try TokenService(configuration: configuration, stateDirectory: directory.path + "/state", clock: clock, logger: Logger(label: "t"))
        }
        #expect(short?.message.contains("at least 32") == true)
    }

    @Test("HS256 in a fleet: a token signed with another secret is refused with a reason that names the cause")
    func hs256SecretMismatch() throws {
        let directory = TemporaryDirectory()
        func service(secret: String, name: String, fleet: FleetKeys?) throws -> TokenService {
            let path = directory.path + "/\(name).secret"
            try Data(secret.utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)
            var configuration = TokenConfiguration()
            configuration.algorithm = .hs256
            configuration.hmacSecretFile = path
            return try TokenService(
                configuration: configuration, stateDirectory: directory.path + "/\(name)", clock: ManualUnixClock(TokenFixture.start),
                fleet: fleet, logger: Logger(label: "t"))
        }
        func fleetKeys() -> FleetKeys {
            FleetKeys(health: FleetHealth(
                configuration: .init(endpoint: .tcp(host: "db", port: 5432), user: "authd", database: "authd", node: "me"),
                appliedSequence: 0, clock: ManualUnixClock(TokenFixture.start)))
        }
        let a = try service(secret: String(repeating: "a", count: 32), name: "a", fleet: fleetKeys())
        let sameSecret = try service(secret: String(repeating: "a", count: 32), name: "b", fleet: fleetKeys())
        let otherSecret = try service(secret: String(repeating: "c", count: 32), name: "c", fleet: fleetKeys())
        let single = try service(secret: String(repeating: "d", count: 32), name: "d", fleet: nil)
        let token = try a.issuer.issue(IssueRequest(subject: "svc")).accessToken
        #expect(try sameSecret.verifier.verify(VerifyRequest(token: token)).subject == "svc")
        let mismatch = #expect(throws: AuthdError.self) { try otherSecret.verifier.verify(VerifyRequest(token: token)) }
        #expect(mismatch?.code == .invalidToken)
        #expect(mismatch?.message.contains("same hmac_secret_file") == true)
        #expect(mismatch?.message.contains(a.activeKeyID) == false)
        // Outside a fleet, and for key ids that are not HS256 ones, the reason stays plain.
        let plain = #expect(throws: AuthdError.self) { try single.verifier.verify(VerifyRequest(token: token)) }
        #expect(plain?.message == "unknown key id")
    }
}

import Crypto

private func SHA256Digest(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Array(text.utf8))) }
