import AuthdProtocol
import Foundation
import Testing

@Suite("authctl against the real daemon")
struct AuthctlTests {
    @Test("issue prints a token; verify prints claims; exit statuses per error class")
    func exitStatuses() async throws {
        let daemon = try await DaemonProcess(config: "[tokens]\nleeway = 0\n")
        let socket = ["--socket", daemon.socketPath]

        let issued = try await authctl(socket + ["issue", "alice", "--role", "user", "--role", "ops"])
        #expect(issued.status == 0)
        let token = issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.split(separator: ".").count == 3)

        let verified = try await authctl(socket + ["verify", token])
        #expect(verified.status == 0)
        #expect(verified.stdout.contains("alice"))

        // The token on standard input keeps it out of the process list.
        let fromStdin = try await authctl(["verify", "--json"] + socket, input: token + "\n")
        #expect(fromStdin.status == 0)
        let claims = try JSONParser().parse(fromStdin.stdout.trimmingCharacters(in: .newlines))
        #expect(claims.objectValue?["sub"] == "alice")

        #expect(try await authctl(socket + ["verify", token, "--role", "admin"]).status == 15)
        #expect(try await authctl(socket + ["verify", token, "--role", "admin", "--role", "ops"]).status == 0)
        #expect(try await authctl(socket + ["verify", token, "--role", "admin", "--role", "ops", "--all-roles"]).status == 15)
        #expect(try await authctl(socket + ["verify", token + "x"]).status == 10)
        #expect(try await authctl(socket + ["verify", token, "--aud", "billing"]).status == 13)
        let badRequest = try await authctl(socket + ["issue", "bob", "--ttl", "999999"])
        #expect(badRequest.status == 2)
        #expect(badRequest.stderr.contains("bad_request"))
        #expect(try await authctl(["--socket", daemon.directory.path + "/nonexistent.sock", "ping"]).status == 3)
        #expect(try await authctl(socket + ["frobnicate"]).status == 64)

        let short = try await authctl(socket + ["issue", "carol", "--ttl", "1"])
        try await Task.sleep(for: .milliseconds(2100))
        #expect(try await authctl(socket + ["verify", short.stdout.trimmingCharacters(in: .whitespacesAndNewlines)]).status == 11)

        let issueJSON = try await authctl(["--json"] + socket + ["issue", "dave"])
        let result = try JSONParser().parse(issueJSON.stdout.trimmingCharacters(in: .newlines))
        #expect(result.objectValue?["token_type"] == "Bearer")
        #expect(result.objectValue?["jti"]?.stringValue != nil)

        #expect(try await authctl(socket + ["ping"]).status == 0)
        let jwks = try await authctl(socket + ["jwks"])
        #expect(try JSONParser().parse(jwks.stdout.trimmingCharacters(in: .newlines)).objectValue?["keys"]?.arrayValue?.count == 1)
        let status = try await authctl(socket + ["status", "--json"])
        #expect(try JSONParser().parse(status.stdout.trimmingCharacters(in: .newlines)).objectValue?["version"] != nil)
        #expect(await daemon.stop() == 0)
    }
}
