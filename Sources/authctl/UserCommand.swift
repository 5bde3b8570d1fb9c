import ArgumentParser
import AuthdClient
import AuthdProtocol

extension Authctl {
    struct User: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage password users (needs the 'admin' grant).",
            discussion: "Changing a user's password or roles, disabling or deleting the user revokes the user's tokens and sessions.",
            subcommands: [Add.self, Passwd.self, Roles.self, Disable.self, Enable.self, Delete.self, List.self])

        @ParentCommand var authctl: Authctl
    }
}

/// The options of a `user` subcommand: authctl's global ones, one level further up.
protocol UserSubcommand: AsyncParsableCommand {
    var user: Authctl.User { get }
}

extension UserSubcommand {
    var options: GlobalOptions { user.authctl.options }

    /// Runs `change` and prints the account it returns.
    func report(_ change: @escaping (AuthdClient) async throws(AuthdError) -> UserInfo) async throws {
        try await options.run { client throws(AuthdError) in
            let info = try await change(client)
            if options.json { options.printJSON(UserResult(user: info).result) } else { printUser(info) }
        }
    }
}

private func printUser(_ info: UserInfo) {
    let roles = info.roles.isEmpty ? "-" : info.roles.joined(separator: ",")
    print("\(info.username)\t\(info.disabled ? "disabled" : "enabled")\troles=\(roles)")
}

/// `--password-stdin`, or a prompt asked twice.
struct NewPasswordOptions: ParsableArguments {
    @Flag(name: .customLong("password-stdin"), help: "Read the password from the first line of standard input.")
    var passwordFromStandardInput = false

    func read(for username: String) throws -> String {
        try passwordFromStandardInput
            ? PasswordInput.fromStandardInput() : PasswordInput.prompt("New password for \(username): ", confirm: true)
    }
}

extension Authctl.User {
    struct Add: UserSubcommand {
        static let configuration = CommandConfiguration(abstract: "Create a user.")
        @ParentCommand var user: Authctl.User
        @Argument(help: "The username: a-z, 0-9, '.', '_', '@', '-', up to 64 characters.") var username: String
        @Option(name: .customLong("role"), help: "A role for the user's tokens (repeatable).") var roles: [String] = []
        @OptionGroup var password: NewPasswordOptions

        func run() async throws {
            let secret = try password.read(for: username)
            try await report { client throws(AuthdError) in try await client.addUser(username, password: secret, roles: roles) }
        }
    }

    struct Passwd: UserSubcommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password; ends the user's sessions.")
        @ParentCommand var user: Authctl.User
        @Argument(help: "The username.") var username: String
        @OptionGroup var password: NewPasswordOptions

        func run() async throws {
            let secret = try password.read(for: username)
            try await report { client throws(AuthdError) in try await client.setPassword(of: username, to: secret) }
        }
    }

    struct Roles: UserSubcommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a user's roles (no --role: none); ends the user's sessions.")
        @ParentCommand var user: Authctl.User
        @Argument(help: "The username.") var username: String
        @Option(name: .customLong("role"), help: "A role (repeatable).") var roles: [String] = []

        func run() async throws {
            try await report { client throws(AuthdError) in try await client.setRoles(of: username, to: roles) }
        }
    }

    struct Disable: UserSubcommand {
        static let configuration = CommandConfiguration(abstract: "Refuse a user's logins and revoke their tokens and sessions.")
        @ParentCommand var user: Authctl.User
        @Argument(help: "The username.") var username: String

        func run() async throws {
            try await report { client throws(AuthdError) in try await client.disableUser(username) }
        }
    }

    struct Enable: UserSubcommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled user log in again.")
        @ParentCommand var user: Authctl.User
        @Argument(help: "The username.") var username: String

        func run() async throws {
            try await report { client throws(AuthdError) in try await client.enableUser(username) }
        }
    }

    struct Delete: UserSubcommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user and revoke their tokens and sessions.")
        @ParentCommand var user: Authctl.User
        @Argument(help: "The username.") var username: String

        func run() async throws {
            try await report { client throws(AuthdError) in try await client.deleteUser(username) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users: name, state and roles (never hashes).")
        @ParentCommand var user: Authctl.User
        var options: GlobalOptions { user.authctl.options }

        func run() async throws {
            try await options.run { client throws(AuthdError) in
                let users = try await client.listUsers()
                if options.json {
                    options.printJSON(UserListResult(users: users).result)
                } else {
                    users.forEach(printUser)
                }
            }
        }
    }
}
