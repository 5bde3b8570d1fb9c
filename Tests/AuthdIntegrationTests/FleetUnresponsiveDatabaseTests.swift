import AuthdClient
import AuthdProtocol
import Foundation
import Testing

@Suite("A fleet database that accepts connections but never answers")
struct FleetUnresponsiveDatabaseTests {
    /// A Unix socket named as PostgreSQL's that listens and never accepts: a client's connection
    /// is queued by the kernel, its start-up message is taken in, and no answer ever comes — what
    /// a server in the middle of shutting down can look like.
    final class SilentServer {
        let directory = TemporaryDirectory()
        private let descriptor: Int32

        init() throws {
            descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let path = directory.path + "/.s.PGSQL.5432"
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                path.utf8CString.withUnsafeBytes { raw.copyMemory(from: $0) }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0, listen(descriptor, 4096) == 0 else { throw DaemonError("cannot listen on \(path)") }
        }

        deinit { close(descriptor) }
    }

    @Test("the node starts, serves, says it is disconnected, and its feed gives up on each attempt after the timeout and tries again")
    func silentServer() async throws {
        let server = try SilentServer()
        let daemon = try await InProcessDaemon(
            config: """
                [fleet]
                database = "postgresql://authd@/authd?host=\(server.directory.path)"
                node = "silent"
                """)
        let client = daemon.client()
        try await client.ping()
        #expect(try await client.status().fleet?.connected == false)
        // An attempt gives up after the connect timeout (5 s) and is logged with its reason:
        // the attempt came back rather than hung, and the feed goes on trying.
        let retried = await eventually(timeout: .seconds(90)) {
            daemon.log.contains("the fleet database's feed connection failed; retrying")
                && daemon.log.components(separatedBy: "feed: connecting").count > 2
        }
        #expect(retried, "\(daemon.log.suffix(4000))")
        #expect(try await client.status().fleet?.connected == false)
        await client.close()
        #expect(await daemon.stop() == 0)
    }
}
