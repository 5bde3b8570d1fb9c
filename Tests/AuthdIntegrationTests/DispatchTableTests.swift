import AuthdClient
import AuthdCore
import Foundation
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

    @Test("issue is answered on the event loop unless it must wait: for the store (a refresh token), a look-up of the caller's groups, or the second of a revocation of its subject")
    func issueWithoutWaiting() async throws {
        let clock = ManualUnixClock(Int64(Date().timeIntervalSince1970))
        let daemon = try await InProcessDaemon(config: "[[policy.grant]]\ngroup = \"nogroup\"\nops = [\"issue\"]\n", clock: clock)
        let handler = daemon.daemon.server.handler
        /// The reply written on the calling thread, or nil when the line is left to the task.
        func inline(_ line: String, as caller: Caller = .daemon) throws -> ReplyEnvelope? {
            var output: [UInt8] = []
            guard handler.writeInlineReply(to: ByteBuffer(string: line), caller: caller, into: &output) else {
                #expect(output.isEmpty, "nothing written for a line left to the task")
                return nil
            }
            return try ReplyEnvelope.parse(output)
        }
        let client = daemon.client()

        let issued = try #require(try inline(#"{"id":1,"op":"issue","sub":"alice","roles":["user"]}"#))
        #expect(issued.id == .int(1))
        let token = try #require(issued.resultObject?["access_token"]?.stringValue)
        let verified = try await client.verify(token: token)
        #expect(verified.subject == "alice" && verified.roles == ["user"])
        #expect(daemon.log.contains("token issued") && daemon.log.contains("authd.jti=\(verified.jti)"), "audited as from the task")

        #expect(try inline(#"{"op":"issue","sub":"alice","refresh":true}"#) == nil)
        #expect(try inline(#"{"op":"issue","sub":"alice"}"#, as: Self.nobody) == nil, "a group grant may cover nobody")
        #expect(try inline(#"{"op":"revoke","jti":"issue"}"#) == nil, "only the ops that may answer at once are parsed here")
        #expect(try inline(#"{"op":"issue"}"#)?.errorCode == .badRequest)

        #expect(try await Self.reply(daemon, #"{"op":"revoke","sub":"carol"}"#, as: .daemon).errorCode == nil)
        #expect(try inline(#"{"op":"issue","sub":"carol"}"#) == nil, "a token of this second would be born revoked")
        clock.advance(by: 1)
        let later = try #require(try inline(#"{"op":"issue","sub":"carol"}"#)?.resultObject?["access_token"]?.stringValue)
        #expect(try await client.verify(token: later).subject == "carol")
        await client.close()
        #expect(await daemon.stop() == 0)

        // Without a group grant nothing needs a look-up: a caller without a grant is refused at
        // once, and audited.
        let plain = try await InProcessDaemon()
        var output: [UInt8] = []
        #expect(plain.daemon.server.handler.writeInlineReply(to: ByteBuffer(string: #"{"op":"issue","sub":"x"}"#), caller: Self.nobody, into: &output))
        #expect(try ReplyEnvelope.parse(output).errorCode == .permissionDenied)
        #expect(plain.log.contains("permission denied") && plain.log.contains("authd.peer_uid=65534"))
        #expect(await plain.stop() == 0)
    }
}
