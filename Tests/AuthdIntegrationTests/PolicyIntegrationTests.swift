import AuthdClient
import AuthdProtocol
import Foundation
import Testing

@Suite("Caller policy against the real daemon, with a real other uid")
struct PolicyIntegrationTests {
    /// authctl as `nobody`, through setpriv: the daemon learns the uid from the kernel.
    func authctlAsNobody(_ arguments: [String], input: String? = nil) async throws -> CommandResult {
        try await runCommand(
            "/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", Binaries.authctl] + arguments, input: input)
    }

    @Test(
        "another uid is refused issue and revoke (exit 4, audited with its uid) but may verify; a group grant with limits holds",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && getuid() == 0, "needs root and setpriv"))
    func otherUID() async throws {
        let directory = TemporaryDirectory()
        chmod(directory.path, 0o755)  // nobody must reach the socket
        let daemon = try await DaemonProcess(
            config: """
                [server]
                socket_mode = "0666"

                [[policy.grant]]
                group = "nogroup"
                ops = ["issue"]
                roles = ["reader"]
                subjects = ["svc-*"]
                """, directory: directory)
        let socket = ["--socket", daemon.socketPath]
        let token = try await daemon.client().issue(subject: "alice", roles: ["admin"]).accessToken

        #expect(try await authctlAsNobody(socket + ["verify", token]).status == 0)
        #expect(try await authctlAsNobody(socket + ["ping"]).status == 0)
        let refused = try await authctlAsNobody(socket + ["issue", "alice"])
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("permission_denied"))
        #expect(try await authctlAsNobody(socket + ["issue", "svc-reports", "--role", "reader"]).status == 0)
        #expect(try await authctlAsNobody(socket + ["issue", "svc-reports", "--role", "admin"]).status == 4)
        #expect(try await authctlAsNobody(socket + ["revoke", "--jti", "x"]).status == 4)
        #expect(daemon.log.contains("permission denied"))
        #expect(daemon.log.contains("authd.peer_uid=65534"))
        #expect(daemon.log.contains(AuthdCoreAuditIDs.permissionDenied))
        #expect(await daemon.stop() == 0)
    }
}

/// The audit id, spelt out so the test also pins the documented value.
enum AuthdCoreAuditIDs {
    static let permissionDenied = "3e2d1c0b9a8f4e7d8c6b5a4f3e2d1c07"
}
