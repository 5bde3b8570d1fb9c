import AuthdProtocol
import Testing

@Suite("Request and reply envelopes")
struct EnvelopeTests {
    func parse(_ line: String) throws -> RequestEnvelope {
        try Array(line.utf8).withUnsafeBytes { try RequestEnvelope.parse($0) }
    }

    func parseError(_ line: String) -> RequestParseError? {
        do {
            _ = try parse(line)
            return nil
        } catch {
            return error as? RequestParseError
        }
    }

    @Test("reads id (string or integer), op and fields")
    func readsEnvelope() throws {
        let request = try parse(#"{"id":7,"op":"verify","token":"t"}"#)
        #expect(request.id == .int(7))
        #expect(request.op == "verify")
        #expect(request.fields == ["token": "t"])
        #expect(try parse(#"{"id":"abc","op":"ping"}"#).id == .string("abc"))
        #expect(try parse(#"{"op":"ping"}"#).id == nil)
    }

    @Test("a bad envelope is bad_request, and keeps the id when it was readable")
    func badEnvelopes() {
        #expect(parseError("not json")?.error.code == .badRequest)
        #expect(parseError("[1]")?.error.code == .badRequest)
        #expect(parseError(#"{"id":{},"op":"ping"}"#)?.error.code == .badRequest)
        let missingOp = parseError(#"{"id":3}"#)
        #expect(missingOp?.error.code == .badRequest)
        #expect(missingOp?.id == .int(3))
        #expect(parseError(#"{"id":"q","op":5}"#)?.id == .string("q"))
    }

    @Test("op fields are typed, and unknown fields are refused")
    func typedFields() throws {
        #expect(throws: AuthdError.self) { try VerifyRequest(fields: ["token": 5]) }
        #expect(throws: AuthdError.self) { try VerifyRequest(fields: [:]) }
        #expect(throws: AuthdError.self) { try VerifyRequest(fields: ["token": "t", "role_all": ["a"]]) }
        #expect(throws: AuthdError.self) { try IssueRequest(fields: ["sub": "a", "ttl": 1.5]) }
        #expect(throws: AuthdError.self) { try IssueRequest(fields: ["sub": "a", "roles": [1]]) }
        #expect(throws: AuthdError.self) { try PingRequest(fields: ["x": 1]) }
        let issue = try IssueRequest(fields: ["sub": "a", "aud": "one", "roles": ["r"], "ttl": 60])
        #expect(issue == IssueRequest(subject: "a", roles: ["r"], audience: ["one"], ttl: 60))
        #expect(try IssueRequest(fields: issue.fields) == issue)
    }

    @Test("replies encode and parse back")
    func replies() throws {
        let ok = ReplyEnvelope(id: .int(1), outcome: .success(["x": 1])).encoded()
        #expect(String(decoding: ok, as: UTF8.self) == #"{"id":1,"ok":true,"result":{"x":1}}"#)
        let failure = ReplyEnvelope(id: .string("a"), outcome: .failure(AuthdError(.invalidToken, "no"))).encoded()
        #expect(String(decoding: failure, as: UTF8.self) == #"{"id":"a","ok":false,"error":{"code":"invalid_token","message":"no"}}"#)
        let parsed = try ReplyEnvelope.parse(failure)
        #expect(parsed.id == .string("a"))
        guard case .failure(let error) = parsed.outcome else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.code == .invalidToken)
    }
}
