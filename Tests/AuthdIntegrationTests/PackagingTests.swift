import Foundation
import Testing

/// The shipped files under packaging/, checked with systemd's own tools.
@Suite("packaging: systemd units and the default configuration")
struct PackagingTests {
    static let packaging = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("packaging").path

    /// The units as shipped, except that ExecStart names the binary just built: `systemd-analyze
    /// verify` checks that the executable exists, and the tests do not install into /usr.
    func stagedUnits() throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        let service = try String(contentsOfFile: Self.packaging + "/systemd/authd.service", encoding: .utf8)
        #expect(service.contains("ExecStart=/usr/libexec/authd/authd "))
        try service.replacingOccurrences(of: "/usr/libexec/authd/authd", with: Binaries.authd)
            .write(toFile: directory.path + "/authd.service", atomically: true, encoding: .utf8)
        for socket in ["authd.socket", "authd-http.socket"] {
            try FileManager.default.copyItem(atPath: Self.packaging + "/systemd/" + socket, toPath: directory.path + "/" + socket)
        }
        return directory
    }

    @Test("systemd-analyze verify passes on every unit with nothing on stderr")
    func verify() async throws {
        let units = try stagedUnits()
        let result = try await runCommand(
            "/usr/bin/systemd-analyze",
            ["verify", units.path + "/authd.socket", units.path + "/authd-http.socket", units.path + "/authd.service"])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty, "\(result.stderr)")
    }

    @Test("systemd-analyze security --offline=true rates authd.service 1.0 or lower")
    func securityScore() async throws {
        let units = try stagedUnits()
        let result = try await runCommand("/usr/bin/systemd-analyze", ["security", "--offline=true", units.path + "/authd.service"])
        let line = try #require(result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(score <= 1.0, "\(line)")
    }

    @Test("the service is Type=notify with a watchdog, and never PrivateUsers= (it would blind peer credentials)")
    func serviceShape() throws {
        let service = try String(contentsOfFile: Self.packaging + "/systemd/authd.service", encoding: .utf8)
        for required in ["Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=on-failure", "StateDirectory=authd",
                         "ConfigurationDirectory=authd"] {
            #expect(service.contains(required), "\(required)")
        }
        #expect(!service.contains("\nPrivateUsers="))
        let socket = try String(contentsOfFile: Self.packaging + "/systemd/authd.socket", encoding: .utf8)
        for required in ["ListenStream=/run/authd/authd.sock", "SocketMode=0660", "SocketGroup="] {
            #expect(socket.contains(required), "\(required)")
        }
    }

    @Test("the shipped authd.toml starts authd, and every option in it, uncommented, is valid")
    func defaultConfiguration() async throws {
        let shipped = try String(contentsOfFile: Self.packaging + "/authd.toml", encoding: .utf8)
        let daemon = try await DaemonProcess(config: shipped)
        #expect(await daemon.stop() == 0)
        // Uncomment every option line and start with that too: the documented defaults must be valid.
        var uncommented = ""
        for line in shipped.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("#"), line.dropFirst().first?.isLetter == true, line.contains(" = "),
                !line.contains("hmac_secret_file"), !line.contains("socket ="), !line.contains("directory =")
            {
                uncommented += line.dropFirst() + "\n"
            } else {
                uncommented += line + "\n"
            }
        }
        #expect(uncommented.contains("\nttl = \"15m\""))
        #expect(uncommented.contains("\nargon2_memory_kib = 19456"))
        let second = try await DaemonProcess(config: uncommented)
        #expect(await second.stop() == 0)
    }

    static let repository = URL(fileURLWithPath: packaging).deletingLastPathComponent().path

    @Test("the README's quick start is what `make run` prints, and run in bash it does what its comments say")
    func quickStart() async throws {
        let template = try String(contentsOfFile: Self.repository + "/Examples/quickstart.txt", encoding: .utf8)
        let readme = try String(contentsOfFile: Self.repository + "/README.md", encoding: .utf8)
        let asInREADME = template.replacingOccurrences(of: "@DEV_DIR@", with: "$PWD/.authd-dev")
            .replacingOccurrences(of: "@BIN_DIR@", with: "$(swift build --show-bin-path)")
        #expect(readme.contains("```sh\n" + asInREADME + "```"), "README.md's quick start differs from Examples/quickstart.txt")

        // As `make run` fills it in, with the passwords typed on standard input instead of a terminal.
        let daemon = try await InProcessDaemon()
        var script = template.replacingOccurrences(of: "@DEV_DIR@", with: daemon.directory.path)
            .replacingOccurrences(of: "@BIN_DIR@", with: Binaries.directory)
            .replacingOccurrences(of: "authctl user add alice --role user", with: "authctl user add alice --role user --password-stdin <<<'correct horse'")
            .replacingOccurrences(of: "authctl login alice)", with: "authctl login alice --password-stdin <<<'correct horse')")
        script += "echo \"last:$?\"\n"
        script += "TOKEN=unchanged; LOGIN=$(authctl login alice --password-stdin <<<'wrong horse') && TOKEN=${LOGIN%%$'\\n'*}\n"
        script += "echo \"refused:$? $TOKEN\"\n"
        let run = try await runCommand("/bin/bash", ["-c", script])
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("15"), "\(run.stdout) \(run.stderr)")
        #expect(lines.contains("10"))
        #expect(lines.contains("last:0"), "\(run.stdout) \(run.stderr)")
        #expect(lines.contains("refused:16 unchanged"), "\(run.stdout)")
        #expect(run.stdout.contains("\"keys\""))
        #expect(await daemon.stop() == 0)
    }
}
