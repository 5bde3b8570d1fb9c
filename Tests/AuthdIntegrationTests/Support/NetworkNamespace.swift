import Foundation

/// A network namespace joined to this one by a veth pair, for a node that reaches PostgreSQL over
/// a link the test can cut (a partition: packets dropped silently, no connection reset).
///
/// The host side has `hostAddress`, the namespace side `namespaceAddress`, in a /24 of 10.77.0.0/16
/// chosen at random so that tests never share one. Needs `ip` and the right to create namespaces
/// (root with CAP_NET_ADMIN and CAP_SYS_ADMIN); ``isAvailable`` says whether this machine gives it.
final class NetworkNamespace: Sendable {
    let name: String
    let hostAddress: String
    let namespaceAddress: String
    /// The namespace's network, for pg_hba.conf.
    let subnet: String
    private let hostLink: String

    /// Whether namespaces and veth pairs can be made here (tried once, then cleaned up).
    static let isAvailable: Bool = {
        let probe = "authd-probe-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = try? runSync("/usr/sbin/ip", ["netns", "delete", probe]) }
        guard (try? runSync("/usr/sbin/ip", ["netns", "add", probe])) == 0 else { return false }
        let link = "ap\(UInt16.random(in: 0...UInt16.max))"
        defer { _ = try? runSync("/usr/sbin/ip", ["link", "delete", link]) }
        return (try? runSync("/usr/sbin/ip", ["link", "add", link, "type", "veth", "peer", "name", link + "b"])) == 0
    }()

    init() async throws {
        let tag = UInt16.random(in: 0...UInt16.max)
        let octet = Int.random(in: 1...254)
        name = "authd-test-\(tag)"
        hostLink = "ah\(tag)"
        let namespaceLink = "an\(tag)"
        subnet = "10.77.\(octet).0/24"
        hostAddress = "10.77.\(octet).1"
        namespaceAddress = "10.77.\(octet).2"
        for command in [
            ["netns", "add", name],
            ["link", "add", hostLink, "type", "veth", "peer", "name", namespaceLink],
            ["link", "set", namespaceLink, "netns", name],
            ["address", "add", hostAddress + "/24", "dev", hostLink],
            ["link", "set", hostLink, "up"],
            ["-n", name, "address", "add", namespaceAddress + "/24", "dev", namespaceLink],
            ["-n", name, "link", "set", namespaceLink, "up"],
            ["-n", name, "link", "set", "lo", "up"],
        ] {
            try await Self.ip(command)
        }
    }

    /// The command prefix that runs a program inside the namespace.
    var launcher: [String] { ["/usr/sbin/ip", "netns", "exec", name] }

    /// Cuts the link: from now on, packets between the namespace and the host are lost.
    func cut() async throws { try await Self.ip(["link", "set", hostLink, "down"]) }

    /// Restores the link.
    func heal() async throws { try await Self.ip(["link", "set", hostLink, "up"]) }

    deinit {
        // Deleting the namespace deletes the veth pair with it.
        _ = try? Self.runSync("/usr/sbin/ip", ["netns", "delete", name])
    }

    private static func ip(_ arguments: [String]) async throws {
        let result = try await runCommand("/usr/sbin/ip", arguments)
        guard result.status == 0 else { throw DaemonError("ip \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
    }

    private static func runSync(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
