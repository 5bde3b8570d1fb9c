import AuthdProtocol
import Foundation
import Testing

@Suite("authctl against the real daemon")
struct AuthctlTests {
    @Test("issue prints a token; verify prints claims; exit statuses per error class")
    func exitStatuses() async throws {
        let daemon = try await InProcessDaemon(config: "[tokens]\nleeway = 0\n")
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

    @Test("login and user: passwords from standard input, exit statuses 16, 19, 20, 21, no terminal needed for --password-stdin")
    func loginAndUsers() async throws {
        let daemon = try await InProcessDaemon(config: "[users]\nmax_failures = 3\n")
        let socket = ["--socket", daemon.socketPath]
        let added = try await authctl(socket + ["user", "add", "alice", "--role", "user", "--password-stdin"], input: "pass word with spaces \n")
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("alice\tenabled\troles=user"))
        #expect(try await authctl(socket + ["user", "add", "alice", "--password-stdin"], input: "another-one\n").status == 20)
        #expect(try await authctl(socket + ["user", "add", "bob", "--password-stdin"], input: "short\n").status == 2)
        #expect(try await authctl(socket + ["user", "add", "bob", "--password-stdin"], input: "").status == 64)

        // The password keeps its inner and trailing spaces; only the line ending goes.
        let login = try await authctl(socket + ["login", "alice", "--password-stdin"], input: "pass word with spaces \n")
        #expect(login.status == 0, "\(login.stderr)")
        let lines = login.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.last?.hasPrefix("authd_rt_") == true)
        #expect(try await authctl(socket + ["verify", String(lines[0]), "--role", "user"]).status == 0)
        #expect(try await authctl(socket + ["login", "alice", "--password-stdin"], input: "pass word with spaces\n").status == 16)

        // Without a terminal and without --password-stdin, authctl says so instead of hanging.
        let noTerminal = try await runCommand("/usr/bin/setsid", ["--wait", Binaries.authctl] + socket + ["login", "alice"])
        #expect(noTerminal.status == 64)
        #expect(noTerminal.stderr.contains("--password-stdin"))

        #expect(try await authctl(socket + ["user", "roles", "alice", "--role", "user", "--role", "admin"]).stdout.contains("roles=user,admin"))
        #expect(try await authctl(socket + ["verify", String(lines[0])]).status == 14)
        #expect(try await authctl(socket + ["user", "disable", "nobody"]).status == 21)
        let listed = try await authctl(["--json"] + socket + ["user", "list"])
        #expect(listed.status == 0)
        #expect(listed.stdout.contains("\"username\":\"alice\"") && !listed.stdout.contains("argon2"))

        for _ in 0..<3 { #expect(try await authctl(socket + ["login", "carol", "--password-stdin"], input: "guess\n").status == 16) }
        let throttled = try await authctl(socket + ["login", "carol", "--password-stdin"], input: "guess\n")
        #expect(throttled.status == 19)
        #expect(throttled.stderr.contains("too_many_attempts"))

        // On a terminal (a pty from script(1)), passwords are asked for without echo, twice for a new one.
        let viaTerminal = """
            (sleep 0.5; printf 'terminal-pass\\n'; sleep 0.3; printf 'terminal-pass\\n') |
                script -qec "$0 --socket $1 user add dora --role user" /dev/null
            (sleep 0.5; printf 'terminal-pass\\n') | script -qec "$0 --socket $1 login dora" /dev/null
            """
        let terminal = try await runCommand("/bin/bash", ["-c", viaTerminal, Binaries.authctl, daemon.socketPath])
        #expect(terminal.status == 0, "\(terminal.stdout)\(terminal.stderr)")
        #expect(terminal.stdout.contains("New password for dora:") && terminal.stdout.contains("Again:"))
        #expect(terminal.stdout.contains("Password for dora:") && terminal.stdout.contains("authd_rt_"))
        #expect(!terminal.stdout.contains("terminal-pass"), "the password was echoed")

        #expect(try await authctl(socket + ["user", "delete", "alice"]).status == 0)
        #expect(try await authctl(socket + ["user", "delete", "alice"]).status == 21)
        #expect(!daemon.log.contains("pass word with spaces"))
        #expect(await daemon.stop() == 0)
    }
}
