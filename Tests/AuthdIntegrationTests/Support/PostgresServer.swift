import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL 15 (Debian's) for the fleet tests: a cluster made by `initdb` in a temporary
/// directory, run as the `postgres` user, listening on loopback on a free port with password
/// (SCRAM) authentication, and a role `authd` (no superuser) owning a database `authd`, as an
/// operator would set it up. The superuser reaches it only through the Unix socket in the directory.
final class PostgresServer: @unchecked Sendable {
    static let binaries = "/usr/lib/postgresql/15/bin"

    let directory: TemporaryDirectory
    let port: Int
    /// The `authd` role's password.
    let password: String
    private let server = Mutex<Process?>(nil)

    var dataDirectory: String { directory.path + "/data" }
    var socketDirectory: String { directory.path + "/socket" }
    /// The URL a node's `fleet.database` names.
    var url: String { url(host: "127.0.0.1") }

    /// The URL for reaching the server at `host` (one of ``listenAddresses``).
    func url(host: String) -> String { "postgresql://authd@\(host):\(port)/authd" }

    /// Addresses the server listens on, loopback first.
    let listenAddresses: [String]

    /// With `tls`, the server's self-signed certificate (for `localhost` and 127.0.0.1), as a CA
    /// file for `fleet.tls_ca_file`.
    var certificatePath: String { directory.path + "/server.crt" }
    private let tls: Bool

    /// Creates and starts a cluster; returns once it accepts connections. It listens on loopback
    /// and on `extraAddresses`, and takes password logins from loopback and from `extraNetworks`.
    /// With `tls`, it offers TLS with a self-signed certificate, as Debian's cluster does.
    init(extraAddresses: [String] = [], extraNetworks: [String] = [], tls: Bool = false) async throws {
        listenAddresses = ["127.0.0.1"] + extraAddresses
        self.tls = tls
        guard FileManager.default.isExecutableFile(atPath: Self.binaries + "/initdb") else {
            throw DaemonError("PostgreSQL 15 is not installed: `make deps` installs Debian's postgresql-15")
        }
        directory = TemporaryDirectory()
        password = UUID().uuidString
        port = try freeLoopbackPort()
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
        try await Self.run("/bin/chown", ["-R", "postgres:postgres", directory.path])
        try await asPostgres(
            "initdb", ["-D", dataDirectory, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"])
        if !extraNetworks.isEmpty {
            let hba = try FileHandle(forWritingTo: URL(fileURLWithPath: dataDirectory + "/pg_hba.conf"))
            hba.seekToEndOfFile()
            hba.write(extraNetworks.map { "host all authd \($0) scram-sha-256\n" }.joined().data(using: .utf8)!)
            try hba.close()
        }
        if tls {
            try await Self.run(
                "/usr/bin/openssl",
                ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                 "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                 "-keyout", directory.path + "/server.key", "-out", certificatePath])
            chmod(directory.path + "/server.key", 0o600)
            chmod(certificatePath, 0o644)
            try await Self.run("/bin/chown", ["postgres:postgres", directory.path + "/server.key", certificatePath])
        }
        try await start()
        try await psql("CREATE ROLE authd LOGIN PASSWORD '\(password)'")
        try await psql("CREATE DATABASE authd OWNER authd")
    }

    /// Starts the server (again) and waits until it accepts connections.
    ///
    /// The server is this process's child (through `setpriv`, which execs it as `postgres`), not
    /// daemonized by `pg_ctl`: Foundation's `Process` counts a child as running while any process
    /// holds a descriptor it inherited, so a daemon that outlives `pg_ctl` would make `pg_ctl`
    /// look as if it never exited.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = [
            "--reuid=postgres", "--regid=postgres", "--init-groups", "--", Self.binaries + "/postgres", "-D", dataDirectory,
            "-p", "\(port)", "-k", socketDirectory, "-c", "listen_addresses=\(listenAddresses.joined(separator: ","))", "-c", "max_connections=200",
        ] + (tls ? ["-c", "ssl=on", "-c", "ssl_cert_file=\(certificatePath)", "-c", "ssl_key_file=\(directory.path)/server.key"] : [])
        let log = directory.path + "/server.log"
        if !FileManager.default.fileExists(atPath: log) { try createEmptyFile(log) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        server.withLock { $0 = process }
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw DaemonError("postgres exited at start: \(Self.tail(log))") }
            if (try? await psql("SELECT 1")) == "1" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DaemonError("postgres did not accept connections within 120 s: \(Self.tail(log))")
    }

    /// Stops the server (fast shutdown: sessions are terminated, as an operator's restart does)
    /// and waits until it has exited.
    func stop() async throws {
        guard let process = server.withLock({ $0 }) else { return }
        kill(process.processIdentifier, SIGINT)
        guard await waitForExit(process, timeout: .seconds(120)) != -1 else { throw DaemonError("postgres did not stop") }
        server.withLock { $0 = nil }
    }

    private static func tail(_ path: String) -> String {
        String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(2000))
    }

    /// Runs `sql` as the superuser and returns its output (unaligned, tuples only).
    @discardableResult
    func psql(_ sql: String, database: String = "postgres") async throws -> String {
        let result = try await runCommand(
            "/usr/bin/setpriv",
            ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", Self.binaries + "/psql", "-X", "-h", socketDirectory, "-p", "\(port)", "-U", "postgres", "-d", database,
             "-v", "ON_ERROR_STOP=1", "-tAc", sql])
        guard result.status == 0 else { throw DaemonError("psql failed (\(result.status)): \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes the `authd` role's password to a private file, as `fleet.password_file` wants it.
    func writePasswordFile(_ path: String) throws {
        try (password + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
    }

    deinit {
        // A test that failed half-way must not leave a server running.
        if let process = server.withLock({ $0 }), process.isRunning { kill(process.processIdentifier, SIGQUIT) }
    }

    private func asPostgres(_ tool: String, _ arguments: [String]) async throws {
        try await Self.run("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", Self.binaries + "/" + tool] + arguments)
    }

    private static func run(_ executable: String, _ arguments: [String]) async throws {
        let result = try await runCommand(executable, arguments)
        guard result.status == 0 else {
            throw DaemonError("\(executable) \(arguments.prefix(4).joined(separator: " ")) failed (\(result.status)): \(result.stderr)\(result.stdout)")
        }
    }
}
