import ArgumentParser
import AuthdClient
import AuthdProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension BenchOp: ExpressibleByArgument {}

extension Authctl {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure a running authd: ops/s, latency percentiles, and authd's CPU time and memory.",
            discussion: """
                Opens --connections connections, keeps --depth requests in flight on each (pipelining), and \
                sends --op for --duration seconds. Ops: \(BenchOp.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; ")). \
                issue, revoke, mix, refresh and login need a caller allowed to issue, revoke and administer (root). \
                The tokens are minted before the clock starts. authd's CPU time and RSS come from /proc, \
                when this user may read them. --json prints ops_per_s, p50_us, p99_us, p999_us, max_us, errors and more.
                """)

        @ParentCommand var authctl: Authctl
        var options: GlobalOptions { authctl.options }

        @Option(help: "What to send.") var op: BenchOp = .verifyHot
        @Option(help: "Connections, 1 to 256.") var connections = 16
        @Option(help: "Requests in flight per connection, 1 to 1024.") var depth = 8
        @Option(help: "Seconds to run.") var duration = 5.0
        @Option(help: "Tokens to verify: the hot set's size, or (verify-cold, revoke-token) how many to mint, each used once. [default: 64 hot, 200000 cold]")
        var tokens: Int?

        func validate() throws {
            guard (1...256).contains(connections) else { throw ValidationError("--connections must be between 1 and 256") }
            guard (1...1024).contains(depth) else { throw ValidationError("--depth must be between 1 and 1024") }
            guard duration > 0, duration <= 3600 else { throw ValidationError("--duration must be between 0 and 3600 seconds") }
            if let tokens, tokens < 1 || tokens > 5_000_000 { throw ValidationError("--tokens must be between 1 and 5000000") }
        }

        func run() throws {
            let socketPath = options.socket ?? AuthdClient.defaultSocketPath
            let preparation = BenchPreparation(socketPath: socketPath)
            var inputs = BenchInputs()
            do {
                switch op {
                case .verifyHot, .mix:
                    inputs.hotVerifyLines = try preparation.issue(tokens ?? 64, refresh: false).map(Self.verifyLine)
                case .verifyCold:
                    inputs.onceLines = try preparation.issue(tokens ?? 200_000, refresh: false).map(Self.verifyLine)
                case .revokeToken:
                    inputs.onceLines = try preparation.issue(tokens ?? 200_000, refresh: false).map(Self.revokeLine)
                case .refresh:
                    inputs.refreshTokens = try preparation.issue(connections * depth, refresh: true)
                case .login:
                    try preparation.ensureUser("bench-login", password: "bench-login-password")
                    inputs.loginLine = Array(#"{"op":"login","username":"bench-login","password":"bench-login-password"}"#.utf8) + [0x0A]
                case .issue, .revoke:
                    break
                }
                let pid = preparation.daemonPID()
                let before = pid.flatMap(ProcessUsage.init(pid:))
                let runner = BenchRunner(
                    socketPath: socketPath, op: op, connections: connections, depth: depth,
                    durationNanoseconds: UInt64(duration * 1e9), inputs: inputs)
                let (samples, elapsed) = try runner.run()
                let after = pid.flatMap(ProcessUsage.init(pid:))
                let report = BenchReport(
                    op: op, connections: connections, depth: depth, samples: samples, elapsedNanoseconds: elapsed, pid: pid,
                    before: before, after: after)
                print(options.json ? JSONWriter.string(.object(report.json)) : report.table)
                if !report.failures.isEmpty { throw ExitCode(ExitStatus.failure) }
            } catch let error as BenchError {
                printError("authctl bench: \(error.description)")
                throw ExitCode(ExitStatus.unreachable)
            }
        }

        private static func revokeLine(_ token: String) -> [UInt8] {
            Array(#"{"op":"revoke","token":"\#(token)"}"#.utf8) + [0x0A]
        }

        private static func verifyLine(_ token: String) -> [UInt8] {
            Array(#"{"op":"verify","token":"\#(token)"}"#.utf8) + [0x0A]
        }
    }
}
