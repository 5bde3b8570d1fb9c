import ArgumentParser
import AuthdClient
import AuthdProtocol

extension Authctl {
    struct Login: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Log in with a password; prints the access token, and the refresh token on a second line.",
            discussion: "The password is asked for on the terminal without echo, or read from the first line of standard input with --password-stdin.")

        @ParentCommand var authctl: Authctl
        var options: GlobalOptions { authctl.options }

        @Argument(help: "The username.")
        var username: String

        @Flag(name: .customLong("password-stdin"), help: "Read the password from the first line of standard input.")
        var passwordFromStandardInput = false

        @Option(name: .customLong("aud"), help: "An audience (repeatable). [default: the daemon's]")
        var audiences: [String] = []

        func run() async throws {
            let password = try passwordFromStandardInput ? PasswordInput.fromStandardInput() : PasswordInput.prompt("Password for \(username): ")
            try await options.run { client throws(AuthdError) in
                let result = try await client.login(
                    username: username, password: password, audience: audiences.isEmpty ? nil : audiences)
                printIssued(result, json: options.json)
            }
        }
    }
}
