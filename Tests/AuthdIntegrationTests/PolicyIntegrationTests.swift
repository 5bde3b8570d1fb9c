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
        let daemon = try await InProcessDaemon(
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

extension PolicyIntegrationTests {
    @Test(
        "user admin ops need the admin grant (exit 4, naming the op); login is open to any uid; a group admin grant works",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && getuid() == 0, "needs root and setpriv"))
    func adminGrant() async throws {
        for granted in [false, true] {
            let directory = TemporaryDirectory()
            chmod(directory.path, 0o755)
            let grant = granted ? "[[policy.grant]]\ngroup = \"nogroup\"\nops = [\"admin\"]\n" : ""
            let daemon = try await InProcessDaemon(config: "[server]\nsocket_mode = \"0666\"\n\n" + grant, directory: directory)
            let socket = ["--socket", daemon.socketPath]
            _ = try await daemon.client().addUser("alice", password: "wonderland", roles: ["user"])

            let login = try await authctlAsNobody(socket + ["login", "alice", "--password-stdin"], input: "wonderland\n")
            #expect(login.status == 0, "\(login.stderr)")
            let add = try await authctlAsNobody(socket + ["user", "add", "bob", "--password-stdin"], input: "builder-bob\n")
            let list = try await authctlAsNobody(socket + ["user", "list"])
            let disable = try await authctlAsNobody(socket + ["user", "disable", "alice"])
            if granted {
                #expect(add.status == 0, "\(add.stderr)")
                #expect(list.status == 0 && list.stdout.contains("bob"))
                #expect(disable.status == 0)
            } else {
                #expect(add.status == 4)
                #expect(add.stderr.contains("permission_denied") && add.stderr.contains("user_add") && add.stderr.contains("admin"))
                #expect(list.status == 4)
                #expect(disable.status == 4)
                #expect(daemon.log.contains("authd.op=user_add"))
            }
            #expect(await daemon.stop() == 0)
        }
    }
}

extension PolicyIntegrationTests {
    @Test(
        "a policy error refuses to start; on reload it keeps the old policy and says why; a good reload swaps the policy",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && getuid() == 0, "needs root and setpriv"))
    func policyReload() async throws {
        let directory = TemporaryDirectory()
        chmod(directory.path, 0o755)
        let base = "[server]\nsocket_mode = \"0666\"\n\n"
        let grant = base + "[[policy.grant]]\ngroup = \"nogroup\"\nops = [\"issue\"]\n"
        let daemon = try await DaemonProcess(config: grant, directory: directory)
        let socket = ["--socket", daemon.socketPath]
        #expect(try await authctlAsNobody(socket + ["issue", "svc"]).status == 0)

        // An unknown group: the reload is refused, the old grant still holds.
        try (base + "[[policy.grant]]\ngroup = \"no-such-group-x\"\nops = [\"issue\"]\n")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        try await Self.waitForLog(daemon, "reload refused")
        #expect(daemon.log.contains("policy.grant[0].group"))
        #expect(try await authctlAsNobody(socket + ["issue", "svc"]).status == 0)

        // An unknown op: refused too.
        try (base + "[[policy.grant]]\ngroup = \"nogroup\"\nops = [\"issue\", \"frobnicate\"]\n")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        try await Self.waitForLog(daemon, "frobnicate")
        #expect(try await authctlAsNobody(socket + ["issue", "svc"]).status == 0)

        // A valid policy without the grant takes over.
        try base.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        var status: Int32 = 0
        for _ in 0..<100 {
            status = try await authctlAsNobody(socket + ["issue", "svc"]).status
            if status == 4 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(status == 4)
        #expect(await daemon.stop() == 0)

        // The same errors at start: exit 78, naming the key.
        for bad in ["[[policy.grant]]\ngroup = \"no-such-group-x\"\nops = [\"issue\"]\n", "[[policy.grant]]\nuid = 1\nops = [\"frobnicate\"]\n"] {
            let refused = TemporaryDirectory()
            try bad.write(toFile: refused.path + "/authd.toml", atomically: true, encoding: .utf8)
            let result = try await runCommand(
                Binaries.authd,
                ["--socket", refused.path + "/s", "--state-dir", refused.path + "/state", "--config", refused.path + "/authd.toml"])
            #expect(result.status == 78)
            #expect(result.stderr.contains("policy.grant[0]"))
        }
    }

    static func waitForLog(_ daemon: any TestDaemon, _ text: String) async throws {
        for _ in 0..<200 where !daemon.log.contains(text) { try await Task.sleep(for: .milliseconds(25)) }
        #expect(daemon.log.contains(text), "the log never said '\(text)'")
    }
}

/// The audit id, spelt out so the test also pins the documented value.
enum AuthdCoreAuditIDs {
    static let permissionDenied = "3e2d1c0b9a8f4e7d8c6b5a4f3e2d1c07"
}
