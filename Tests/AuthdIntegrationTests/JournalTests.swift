import AuthdCore
import AuthdProtocol
import Foundation
import Testing

/// Whether this machine lets us make a private mount namespace (root, and no seccomp/LSM veto).
/// If it does not, the journal test is skipped with this reason, and `.ci/run` fails on the skip.
enum JournalNamespace {
    static let isAvailable: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["--mount", "--propagation", "private", "true"]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
            && FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd-journald")
    }()

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("journal/run-in-namespace.sh").path
}

@Suite("The journal, for real: a private systemd-journald in a mount namespace")
struct JournalTests {
    @Test(
        "native fields, priorities, MESSAGE_IDs and escaping; plain stderr when the journal is not connected",
        .enabled(if: JournalNamespace.isAvailable, "JOURNAL-TEST-SKIPPED: unshare --mount is not permitted on this machine"))
    func journal() async throws {
        let work = TemporaryDirectory()
        let run = try await runCommand(
            "/usr/bin/unshare", ["--mount", "--propagation", "private", "bash", JournalNamespace.script, Binaries.directory, work.path])
        #expect(run.status == 0, "\(run.stderr)")

        let token = try String(contentsOfFile: work.path + "/token", encoding: .utf8)
        let journal = try String(contentsOfFile: work.path + "/journal.json", encoding: .utf8)
        let entries: [[String: String]] = journal.split(separator: "\n").compactMap { line in
            guard case .object(let object)? = try? JSONParser(maximumDepth: 4).parse(String(line)) else { return nil }
            var fields: [String: String] = [:]
            for (key, value) in object.entries {
                if case .string(let text) = value { fields[key] = text }
            }
            return fields
        }
        let native = entries.filter { $0["SYSLOG_IDENTIFIER"] == "authd" && $0["_TRANSPORT"] == "journal" }
        #expect(native.count >= 5, "\(entries.count) entries")

        // An issued token is audited by jti, with its MESSAGE_ID, at info priority, with code location.
        let issued = try #require(native.first { $0["MESSAGE"] == "token issued" })
        #expect(issued["MESSAGE_ID"] == AuditEvent.tokenIssued.messageID)
        #expect(issued["PRIORITY"] == "6")
        #expect(issued["AUTHD_OP"] == "issue")
        #expect(issued["AUTHD_SUB"] == "alice")
        #expect(issued["AUTHD_ROLES"] == "user")
        #expect(issued["AUTHD_JTI"]?.isEmpty == false)
        #expect(issued["AUTHD_KID"]?.isEmpty == false)
        // Who asked: the kernel's word for the caller (the script's authctl runs as root).
        #expect(issued["AUTHD_PEER_UID"] == "0")
        #expect(issued["AUTHD_PEER_GID"] == "0")
        #expect(Int(issued["AUTHD_PEER_PID"] ?? "") ?? 0 > 0)
        #expect(issued["CODE_FILE"]?.hasSuffix("RequestHandler.swift") == true)
        #expect(Int(issued["CODE_LINE"] ?? "") != nil)
        #expect(issued["CODE_FUNC"]?.isEmpty == false)

        let refusals = native.filter { $0["MESSAGE_ID"] == AuditEvent.verificationRefused.messageID }
        #expect(Set(refusals.compactMap { $0["AUTHD_CODE"] }) == ["insufficient_role", "invalid_token"])

        // notice-level events map to priority 5.
        #expect(native.first { $0["MESSAGE"] == "authd is listening" }?["PRIORITY"] == "5")

        // Escaping: the newline and the control character stay inside one value.
        let refusedRequest = try #require(native.first { $0["MESSAGE"] == "request refused" })
        let reason = try #require(refusedRequest["AUTHD_REASON"])
        #expect(reason.contains(#"x\nMESSAGE_ID=00000000000000000000000000000bad\x01"#), "\(reason)")
        #expect(!entries.contains { $0["MESSAGE_ID"] == "00000000000000000000000000000bad" })

        // The token itself is never in the journal, in any field.
        #expect(!journal.contains(token))
        #expect(!journal.contains(String(token.split(separator: ".")[2])))

        // With plain stderr, authd writes text lines, and no native fields.
        let plain = entries.filter { $0["SYSLOG_IDENTIFIER"] == "authd-plain" }
        #expect(plain.contains { $0["MESSAGE"]?.contains("authd is listening") == true })
        #expect(!plain.contains { $0.keys.contains { $0.hasPrefix("AUTHD_") } })
    }
}
