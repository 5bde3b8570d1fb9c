import AuthdClient
import AuthdCore
import Foundation

/// Several authd nodes in this process, each with its own socket, state directory and node name,
/// sharing one ``PostgresServer`` (and, for HS256, one secret).
final class TestFleet: @unchecked Sendable {
    let postgres: PostgresServer
    private(set) var nodes: [InProcessDaemon]
    let names: [String]
    private let extraConfig: String
    private let tokensConfig: String
    private let secret: String
    private let clock: any UnixClock

    /// Starts `names.count` nodes against `postgres`. Each node has its own EdDSA keys unless
    /// `tokensConfig` says otherwise (`hs256` gives them one shared secret).
    init(
        postgres: PostgresServer, names: [String] = ["node-a", "node-b", "node-c"], tokensConfig: String = "", hs256: Bool = false,
        extraConfig: String = "", clock: any UnixClock = SystemUnixClock()
    ) async throws {
        self.postgres = postgres
        self.names = names
        self.extraConfig = extraConfig
        self.clock = clock
        self.secret = (0..<48).map { _ in String(UInt8.random(in: 0...15), radix: 16) }.joined()
        self.tokensConfig = hs256 ? "algorithm = \"HS256\"\n" + tokensConfig : tokensConfig
        nodes = []
        for name in names { nodes.append(try await start(name, directory: TemporaryDirectory())) }
    }

    subscript(index: Int) -> InProcessDaemon { nodes[index] }

    /// The configuration of node `name` whose files are in `directory`, reaching PostgreSQL at
    /// `host` (loopback unless said otherwise).
    func config(_ name: String, directory: TemporaryDirectory, host: String = "127.0.0.1", fleetKeys: String = "") throws -> String {
        let secretPath = directory.path + "/hs256.secret"
        try secret.write(toFile: secretPath, atomically: true, encoding: .utf8)
        chmod(secretPath, 0o600)
        let passwordPath = directory.path + "/db-password"
        try postgres.writePasswordFile(passwordPath)
        let hs256 = tokensConfig.contains("HS256") ? "hmac_secret_file = \"\(secretPath)\"\n" : ""
        return """
            [tokens]
            leeway = 0
            \(hs256)\(tokensConfig)

            [fleet]
            database = "\(postgres.url(host: host))"
            password_file = "\(passwordPath)"
            node = "\(name)"
            \(extraConfig)
            \(fleetKeys)

            [http]
            listen = ["unix:\(directory.path)/http.sock"]
            """
    }

    private func start(_ name: String, directory: TemporaryDirectory) async throws -> InProcessDaemon {
        try await InProcessDaemon(config: try config(name, directory: directory), directory: directory, clock: clock)
    }

    /// Stops node `index` and starts it again on the same state.
    func restart(_ index: Int) async throws {
        let old = nodes[index]
        await old.stop()
        nodes[index] = try await start(names[index], directory: old.directory)
    }

    /// Stops every node.
    func stop() async {
        for node in nodes { await node.stop() }
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. For effects that
/// arrive asynchronously (a revocation reaching another node): the timeout is generous, and the
/// poll ends as soon as the condition holds, so a busy machine makes the test slower, not flaky.
func eventually(timeout: Duration = .seconds(30), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}
