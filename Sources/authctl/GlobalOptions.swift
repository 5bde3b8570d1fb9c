import ArgumentParser
import AuthdClient
import AuthdProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "authd's socket. [default: $AUTHD_SOCKET, or /run/authd/authd.sock]")
    var socket: String?

    @Flag(help: "Print the daemon's full result as JSON.")
    var json = false

    func makeClient() -> AuthdClient {
        AuthdClient(socketPath: socket ?? AuthdClient.defaultSocketPath)
    }

    /// Runs `body`, turning an ``AuthdError`` into a message on stderr and the exit status for its code.
    func run(_ body: (AuthdClient) async throws(AuthdError) -> Void) async throws {
        let client = makeClient()
        let outcome: Result<Void, AuthdError>
        do {
            try await body(client)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await client.close()
        if case .failure(let error) = outcome {
            printError("authctl: \(error.code.rawValue): \(error.message)")
            throw ExitCode(ExitStatus.forCode(error.code))
        }
    }

    func printJSON(_ object: JSONObject) {
        print(JSONWriter.string(.object(object)))
    }
}

func printError(_ message: String) {
    var line = Array(message.utf8)
    line.append(UInt8(ascii: "\n"))
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// A token from the command line, or from standard input when given as `-` or omitted, so that it
/// need not appear in the process list.
func readToken(_ argument: String?) throws -> String {
    if let argument, argument != "-" { return argument }
    guard let line = readLine(strippingNewline: true), !line.isEmpty else {
        throw ValidationError("no token given: pass it as an argument or on standard input")
    }
    return line.trimmingWhitespace()
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
