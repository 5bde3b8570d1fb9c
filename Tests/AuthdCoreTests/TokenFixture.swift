@testable import AuthdCore
import AuthdProtocol
import Foundation
import Logging

/// A private temporary directory, removed when the fixture goes away.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/authd-test-XXXXXX").utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A token service on a temporary state directory with a manual clock, plus a way to craft
/// arbitrary tokens signed by its real active key.
struct TokenFixture {
    static let start: Int64 = 1_800_000_000

    let directory = TemporaryDirectory()
    let clock = ManualUnixClock(TokenFixture.start)
    let configuration: TokenConfiguration
    let service: TokenService

    var stateDirectory: String { directory.path + "/state" }

    init(_ configure: (inout TokenConfiguration) -> Void = { _ in }) throws {
        var configuration = TokenConfiguration()
        configure(&configuration)
        self.configuration = configuration
        service = try TokenService(
            configuration: configuration, stateDirectory: directory.path + "/state", clock: clock,
            logger: Logger(label: "test"))
    }

    /// A second service over the same state directory: a restarted daemon.
    func reopened() throws -> TokenService {
        try TokenService(configuration: configuration, stateDirectory: stateDirectory, clock: clock, logger: Logger(label: "test"))
    }

    func issue(_ subject: String = "alice", roles: [String] = [], ttl: Int64? = nil) throws -> String {
        try service.issuer.issue(IssueRequest(subject: subject, roles: roles, ttl: ttl)).accessToken
    }

    func verify(_ token: String, audience: String? = nil, rolesAny: [String]? = nil, rolesAll: [String]? = nil) throws
        -> VerifyResult
    {
        try service.verifier.verify(VerifyRequest(token: token, audience: audience, rolesAny: rolesAny, rolesAll: rolesAll))
    }

    /// The error code `verify` answers for `token`, or nil if it verifies.
    func verifyCode(_ token: String, audience: String? = nil, rolesAny: [String]? = nil, rolesAll: [String]? = nil)
        -> AuthdError.Code?
    {
        do {
            _ = try verify(token, audience: audience, rolesAny: rolesAny, rolesAll: rolesAll)
            return nil
        } catch let error as AuthdError {
            return error.code
        } catch {
            return .internalError
        }
    }

    var activeKey: SigningKey { service.keyRing.keySet.active }

    /// A header exactly as the daemon writes it, as JSON text.
    var standardHeader: String {
        #"{"alg":"\#(activeKey.algorithm.name)","typ":"at+jwt","kid":"\#(activeKey.kid)"}"#
    }

    /// Valid claims as JSON text, with `overrides` spliced in (raw JSON members, e.g. `"exp":"x"`).
    func claims(_ overrides: [String: String] = [:]) -> String {
        var members: [(String, String)] = [
            ("iss", #""authd""#), ("sub", #""alice""#), ("aud", #""local""#), ("iat", "\(clock.now())"),
            ("nbf", "\(clock.now())"), ("exp", "\(clock.now() + 600)"), ("jti", #""abcdefghijklmnopqrstuv""#),
            ("roles", #"["user"]"#),
        ]
        for (key, value) in overrides {
            if let index = members.firstIndex(where: { $0.0 == key }) {
                members[index].1 = value
            } else {
                members.append((key, value))
            }
        }
        members.removeAll { $0.1 == "<absent>" }
        return "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    /// A compact JWS over exactly these header and payload texts, signed by `key` (the active key by default).
    func craft(header: String? = nil, payload: String? = nil, key: SigningKey? = nil) throws -> String {
        let input = Base64URL.encode(Array((header ?? standardHeader).utf8)) + "." + Base64URL.encode(Array((payload ?? claims()).utf8))
        let signature = try (key ?? activeKey).sign(Array(input.utf8))
        return input + "." + Base64URL.encode(signature)
    }
}
