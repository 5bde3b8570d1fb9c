@testable import AuthdServer
import NIOCore
import NIOHTTP1
import Testing

/// The bytes the HTTP face's shortcut writes for a reply, and the replies it refuses to write.
@Suite("HTTP replies as the shortcut writes them")
struct HTTPReplyTests {
    static func text(_ reply: HTTPReply, headOnly: Bool = false) -> String? {
        reply.serialized(headOnly: headOnly, allocator: ByteBufferAllocator()).map { String(buffer: $0) }
    }

    @Test("a reply's head: the status line, its fields in order, its length, then its body (none for HEAD, no length for 304)")
    func wellFormed() {
        let reply = HTTPReply(.unauthorized, headers: ["WWW-Authenticate": #"Bearer realm="authd""#], body: Array("no\n".utf8))
        #expect(Self.text(reply) == "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"authd\"\r\nContent-Length: 3\r\n\r\nno\n")
        #expect(Self.text(reply, headOnly: true) == "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"authd\"\r\nContent-Length: 3\r\n\r\n")
        #expect(Self.text(HTTPReply(.notModified, headers: ["ETag": "\"1\""])) == "HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\n\r\n")
        // A status the face has no ready-made line for.
        #expect(Self.text(HTTPReply(.imATeapot))?.hasPrefix("HTTP/1.1 418 I'm a teapot\r\n") == true)
    }

    @Test("a field that could end the field or the head is not written: the reply is refused, and the connection closes")
    func refused() {
        #expect(Self.text(HTTPReply(.ok, headers: ["X-Auth-Request-User": "alice\r\nSet-Cookie: x=1"])) == nil)
        #expect(Self.text(HTTPReply(.ok, headers: ["X-User": "a\u{0}b"])) == nil)
        #expect(Self.text(HTTPReply(.ok, headers: ["X User": "a"])) == nil)
        #expect(Self.text(HTTPReply(.ok, headers: ["": "a"])) == nil)
        // What headerValue makes of the same value is written.
        #expect(Self.text(HTTPReply(.ok, headers: ["X-Auth-Request-User": HTTPReply.headerValue("alice\r\nSet-Cookie: x=1")]))?
            .contains("X-Auth-Request-User: alice%0D%0ASet-Cookie: x=1\r\n") == true)
    }
}
