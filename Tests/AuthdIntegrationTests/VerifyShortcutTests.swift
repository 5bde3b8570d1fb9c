import AuthdClient
import AuthdProtocol
import AuthdServer
import Foundation
import Testing

@Suite("The verify shortcut reads only the exact compact form, and means what the full parser means")
struct VerifyShortcutTests {
    static func match(_ line: String) -> (id: RequestID?, token: String)? {
        Array(line.utf8).withUnsafeBytes { VerifyLineShortcut.match($0) }
    }

    @Test("accepted: the bare form, with an integer id, with a simple string id")
    func accepted() throws {
        let plain = try #require(Self.match(#"{"op":"verify","token":"aaa.bbb.ccc"}"#))
        #expect(plain.id == nil && plain.token == "aaa.bbb.ccc")
        let numbered = try #require(Self.match(#"{"id":42,"op":"verify","token":"a-_.Z9"}"#))
        #expect(numbered.id == .int(42) && numbered.token == "a-_.Z9")
        #expect(Self.match(#"{"id":0,"op":"verify","token":"x"}"#)?.id == .int(0))
        #expect(Self.match(#"{"id":"req:7","op":"verify","token":"x"}"#)?.id == .string("req:7"))
    }

    @Test(
        "anything else goes to the full parser",
        arguments: [
            #"{"op":"verify","token":"x"} "#, #" {"op":"verify","token":"x"}"#, #"{"op": "verify","token":"x"}"#,
            #"{"token":"x","op":"verify"}"#, #"{"op":"verify","token":"x","aud":"a"}"#, #"{"op":"verify","token":"x\u0041"}"#,
            #"{"op":"verify","token":""}"#, #"{"op":"verify","token":"x"}}"#, #"{"op":"verify","token":"x""#,
            #"{"op":"verify","token":"x y"}"#, #"{"id":01,"op":"verify","token":"x"}"#, #"{"id":-1,"op":"verify","token":"x"}"#,
            #"{"id":1.5,"op":"verify","token":"x"}"#, #"{"id":1234567890123456789,"op":"verify","token":"x"}"#,
            #"{"id":"a b","op":"verify","token":"x"}"#, #"{"id":"","op":"verify","token":"x"}"#, #"{"id":null,"op":"verify","token":"x"}"#,
            #"{"op":"verify","token":"x","token":"y"}"#, #"{"op":"issue","token":"x"}"#, #"{"op":"verify","token":"é"}"#, "{}", "",
        ])
    func refused(_ line: String) {
        #expect(Self.match(line) == nil)
    }

    @Test("through the real daemon, every spelling of the same request gets the same answer")
    func sameAnswers() async throws {
        let daemon = try await InProcessDaemon()
        let token = try await daemon.client().issue(subject: "alice", roles: ["user"]).accessToken
        let connection = try RawConnection(path: daemon.socketPath)
        func exchange(_ line: String) async throws -> String {
            try await connection.send(line + "\n")
            return try #require(try await connection.readLine())
        }
        let fast = try await exchange(#"{"id":7,"op":"verify","token":"\#(token)"}"#)
        let slow = try await exchange(#"{ "id": 7, "op": "verify", "token": "\#(token)" }"#)
        let reordered = try await exchange(#"{"token":"\#(token)","op":"verify","id":7}"#)
        #expect(fast == slow)
        #expect(fast == reordered)
        #expect(fast.contains(#""ok":true"#) && fast.contains(#""sub":"alice""#))
        // A duplicate key is refused by the full parser, and the shortcut never takes it.
        let duplicate = try await exchange(#"{"op":"verify","token":"\#(token)","token":"\#(token)"}"#)
        #expect(duplicate.contains("bad_request"))
        // A forged token is refused the same way on both paths.
        let forged = String(token.dropLast(2)) + (token.hasSuffix("AA") ? "BA" : "AA")
        let forgedFast = try await exchange(#"{"op":"verify","token":"\#(forged)"}"#)
        let forgedSlow = try await exchange(#"{"token":"\#(forged)","op":"verify"}"#)
        #expect(forgedFast == forgedSlow)
        #expect(forgedFast.contains("invalid_token"))
        #expect(await daemon.stop() == 0)
    }
}
