import ArgumentParser
import AuthdClient
import AuthdProtocol

@main
struct Authctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authctl",
        abstract: "Talk to the authd token daemon.",
        discussion: """
            Exit status: 0 success; 1 other failure; 2 bad request; 3 daemon unreachable; \
            4 permission denied; 5 storage failure; 6 too many connections; 7 fleet unavailable; 10 invalid token; 11 token expired; 12 token not yet valid; \
            13 wrong audience; 14 token revoked; 15 insufficient role; 16 invalid credentials; \
            17 refresh token reused; 18 invalid refresh token; 19 too many attempts; 20 user exists; \
            21 unknown user; 64 usage error.
            """,
        version: authdVersion,
        subcommands: [
            Issue.self, Verify.self, Login.self, Refresh.self, Revoke.self, User.self, JWKS.self, Status.self, Ping.self,
            Bench.self,
        ]
    )

    @OptionGroup var options: GlobalOptions

    /// Names a mistyped subcommand before argument-parser sees it, then runs as usual.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let message = SubcommandSuggestion.message(for: arguments, commands: configuration.subcommands) {
            printError("authctl: \(message)")
            Self.exit(withError: ExitCode.validationFailure)
        }
        await main(arguments)
    }
}

extension Authctl {
    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue an access token for a subject; prints the token.")

        @ParentCommand var authctl: Authctl
        var options: GlobalOptions { authctl.options }

        @Argument(help: "The subject (sub) of the token.")
        var subject: String

        @Option(name: .customLong("role"), help: "A role to put in the token (repeatable).")
        var roles: [String] = []

        @Option(name: .customLong("aud"), help: "An audience (repeatable). [default: the daemon's]")
        var audiences: [String] = []

        @Option(help: "Lifetime: seconds, or a duration such as 90s, 15m, 1h30m. [default: the daemon's]")
        var ttl: Lifetime?

        @Flag(help: "Also get a refresh token (printed on a second line).")
        var refresh = false

        func run() async throws {
            try await options.run { client throws(AuthdError) in
                let result = try await client.issue(
                    subject: subject, roles: roles, audience: audiences.isEmpty ? nil : audiences, ttl: ttl?.seconds, refresh: refresh)
                printIssued(result, json: options.json)
            }
        }
    }

    struct Refresh: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exchange a refresh token for a new access token and refresh token (printed on two lines).")

        @ParentCommand var authctl: Authctl
        var options: GlobalOptions { authctl.options }

        @Argument(help: "The refresh token; '-' or nothing reads it from standard input.")
        var refreshToken: String?

        func run() async throws {
            let token = try readToken(refreshToken)
            try await options.run { client throws(AuthdError) in
                printIssued(try await client.refresh(token), json: options.json)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a token and print its claims; the exit status says why it was refused.")

        @ParentCommand var authctl: Authctl
        var options: GlobalOptions { authctl.options }

        @Argument(help: "The token; '-' or nothing reads it from standard input.")
        var token: String?

        @Option(name: .customLong("aud"), help: "The audience to require. [default: the daemon's]")
        var audience: String?

        @Option(name: .customLong("role"), help: "A role to require (repeatable): any one of them, or all with --all-roles.")
        var roles: [String] = []

        @Flag(name: .customLong("all-roles"), help: "Require every --role instead of any one.")
        var allRoles = false

        func validate() throws {
            if allRoles, roles.isEmpty { throw ValidationError("--all-roles needs at least one --role") }
        }

        func run() async throws {
            let token = try readToken(token)
            try await options.run { client throws(AuthdError) in
                let result = try await client.verify(
                    token: token, audience: audience,
                    rolesAny: roles.isEmpty || allRoles ? nil : roles,
                    rolesAll: roles.isEmpty || !allRoles ? nil : roles)
                if options.json {
                    options.printJSON(result.result)
                } else {
                    print("sub:   \(result.subject)")
                    print("roles: \(result.roles.joined(separator: ", "))")
                    print("aud:   \(result.audience.joined(separator: ", "))")
                    print("iss:   \(result.issuer)")
                    print("iat:   \(result.issuedAt)")
                    print("exp:   \(result.expiresAt)")
                    print("jti:   \(result.jti)")
                    if !result.claims.isEmpty { print("claims: \(JSONWriter.string(.object(result.claims)))") }
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token, a token id, or every token of a subject; durable once it returns.")

        @ParentCommand var authctl: Authctl
        var options: GlobalOptions { authctl.options }

        @Argument(help: "The token to revoke; '-' reads it from standard input.")
        var token: String?

        // Unconditional: a base64url jti (or a subject) may begin with '-'.
        @Option(parsing: .unconditional, help: "Revoke this token id (jti) instead.")
        var jti: String?

        @Option(parsing: .unconditional, help: "Revoke every token of this subject instead.")
        var subject: String?

        @Option(help: "With --subject: revoke tokens issued at or before this Unix time. [default: now]")
        var before: Int64?

        @Option(name: .customLong("refresh-token"), parsing: .unconditional, help: "Revoke this refresh token's whole session instead.")
        var refreshToken: String?

        func validate() throws {
            let given = [token != nil, jti != nil, subject != nil, refreshToken != nil].filter { $0 }.count
            guard given == 1 else { throw ValidationError("give exactly one of TOKEN, --jti, --subject or --refresh-token") }
            if before != nil, subject == nil { throw ValidationError("--before goes with --subject") }
        }

        func run() async throws {
            let target: RevokeRequest.Target
            if let refreshToken {
                target = .refreshToken(refreshToken)
            } else if let jti {
                target = .jti(jti)
            } else if let subject {
                target = .subject(subject, before: before)
            } else {
                target = .token(try readToken(token))
            }
            try await options.run { client throws(AuthdError) in
                let result = try await client.revoke(target)
                if options.json {
                    options.printJSON(result.result)
                } else {
                    print("revoked: \(result.revoked)")
                    if result.propagated == false {
                        print("propagated: no (the fleet database is unreachable: enforced on this node, published when it returns)")
                    }
                }
            }
        }
    }

    struct JWKS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "jwks", abstract: "Print the public signing keys as a JWK Set (JSON).")

        @ParentCommand var authctl: Authctl
        var options: GlobalOptions { authctl.options }

        func run() async throws {
            try await options.run { client throws(AuthdError) in
                options.printJSON(try await client.jwks().result)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the daemon's version, keys and counters.")

        @ParentCommand var authctl: Authctl
        var options: GlobalOptions { authctl.options }

        func run() async throws {
            try await options.run { client throws(AuthdError) in
                let status = try await client.status()
                if options.json {
                    options.printJSON(status.result)
                } else {
                    print("version:     \(status.version)")
                    print("uptime:      \(status.uptimeSeconds) s")
                    print("active key:  \(status.activeKid)")
                    print("keys:        \(status.keyIds.count)")
                    print("issued:      \(status.issued)")
                    print("verified:    \(status.verified)")
                    print("rejected:    \(status.rejected)")
                    print("connections: \(status.connections)")
                    if let fleet = status.fleet {
                        print("fleet node:  \(fleet.node) (\(fleet.connected ? "connected" : "disconnected"))")
                        print("applied seq: \(fleet.appliedSeq)")
                        print("staleness:   \(fleet.stalenessSeconds) s\(fleet.stale ? " (stale)" : "")")
                    }
                }
            }
        }
    }

    struct Ping: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check that the daemon answers.")

        @ParentCommand var authctl: Authctl
        var options: GlobalOptions { authctl.options }

        func run() async throws {
            try await options.run { client throws(AuthdError) in
                try await client.ping()
                if options.json { options.printJSON([:]) } else { print("authd is answering") }
            }
        }
    }
}

/// Prints an issued token (and its refresh token on a second line), or the whole result as JSON.
func printIssued(_ result: IssueResult, json: Bool) {
    if json {
        print(JSONWriter.string(.object(result.result)))
        return
    }
    print(result.accessToken)
    if let refreshToken = result.refreshToken { print(refreshToken) }
}
