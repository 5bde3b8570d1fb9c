import AuthdClient
import AuthdCore
import AuthdProtocol
@testable import AuthdServer
import NIOCore
import Testing

@Suite("Dispatch: one table of ops, deny by default")
struct DispatchTableTests {
    static let nobody = Caller(uid: 65534, gid: 65534, pid: 1)

    /// The reply to `line` from `caller`, straight through the daemon's request handler.
    static func reply(_ daemon: InProcessDaemon, _ line: String, as caller: Caller) async throws -> ReplyEnvelope {
        var output: [UInt8] = []
        await daemon.daemon.server.handler.writeReply(to: ByteBuffer(string: line), caller: caller, into: &output)
        return try ReplyEnvelope.parse(output)
    }

    @Test("every op in the table: a caller without grants is refused each granted op before its fields are read, never an open one")
    func everyOpDeclaresItsAccess() async throws {
        let daemon = try await InProcessDaemon()
        let operations = RequestHandler.operations
        #expect(operations.count == 15)
        var open: Set<String> = []
        for (name, operation) in operations {
            #expect(operation.name == name)
            // Empty fields: a granted op must refuse on access before it looks at them.
            let asNobody = try await Self.reply(daemon, #"{"op":"\#(name)"}"#, as: Self.nobody)
            let asRoot = try await Self.reply(daemon, #"{"op":"\#(name)"}"#, as: .daemon)
            switch operation.access {
            case .anyPeer:
                open.insert(name)
                #expect(asNobody.errorCode != .permissionDenied, "\(name) is open to any peer")
            case .grant(let grant):
                #expect(Policy.grantableOps.contains(grant), "\(name) needs '\(grant)', which no grant can name")
                #expect(asNobody.errorCode == .permissionDenied, "\(name) needs the '\(grant)' grant")
                #expect(asRoot.errorCode != .permissionDenied, "\(name): root holds every grant")
            }
        }
        // What a service that only checks tokens needs, and nothing more, is open.
        #expect(open == ["verify", "ping", "status", "jwks", "login", "refresh"])
        let unknown = try await Self.reply(daemon, #"{"op":"shutdown"}"#, as: .daemon)
        #expect(unknown.errorCode == .unknownOp)
        #expect(await daemon.stop() == 0)
    }

    @Test("verify answers the same through the shortcut and the full parser, and the table's handler is the one used")
    func oneVerifyReply() async throws {
        let daemon = try await InProcessDaemon()
        let issued = try await daemon.client().issue(subject: "alice", roles: ["user"])
        let compact = try await Self.reply(daemon, #"{"id":7,"op":"verify","token":"\#(issued.accessToken)"}"#, as: Self.nobody)
        let spaced = try await Self.reply(daemon, #"{ "op" : "verify", "id" : 7, "token" : "\#(issued.accessToken)" }"#, as: Self.nobody)
        #expect(compact.id == .int(7))
        #expect(compact.resultObject?["sub"] == "alice")
        #expect(JSONWriter.string(.object(compact.resultObject ?? [:])) == JSONWriter.string(.object(spaced.resultObject ?? [:])))
        #expect(await daemon.stop() == 0)
    }
}
