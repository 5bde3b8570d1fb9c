import AuthdClient
import AuthdCore
import AuthdProtocol
import Foundation
import Testing

/// The HTTP face of an in-process daemon, on a Unix socket and a loopback port, spoken to over raw
/// sockets so that every byte of the exchange is the test's.
@Suite("The HTTP face: forward-auth, JWKS, health")
struct HTTPFaceTests {
    /// A daemon with its HTTP face on `http.sock` in its directory and on a free loopback port.
    struct Face {
        let daemon: InProcessDaemon
        let port: Int
        var socketPath: String { daemon.directory.path + "/http.sock" }

        init(config: String = "", clock: any UnixClock = SystemUnixClock()) async throws {
            let directory = TemporaryDirectory()
            port = try freeLoopbackPort()
            daemon = try await InProcessDaemon(
                config: config + "\n[http]\nlisten = [\"unix:\(directory.path)/http.sock\", \"127.0.0.1:\(port)\"]\n",
                directory: directory, clock: clock)
        }

        /// A client on the Unix socket, once the face listens (it starts beside the line protocol).
        func client() async throws -> HTTPTestClient {
            HTTPTestClient(connection: try await RawConnection.whenListening(path: socketPath))
        }
    }

    static func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer \(token)")] }

    @Test("/auth: 401 without a token or with a bad one, 200 with the identity headers, 403 without the role or audience")
    func forwardAuth() async throws {
        let clock = ManualUnixClock(Int64(Date().timeIntervalSince1970))
        let face = try await Face(clock: clock)
        let authd = face.daemon.client()
        let user = try await authd.issue(subject: "alice", roles: ["user"]).accessToken
        let admin = try await authd.issue(subject: "root-ish", roles: ["admin", "ops"]).accessToken
        let http = try await face.client()

        let none = try await http.request("GET", "/auth")
        #expect(none.status == 401)
        #expect(none.header("WWW-Authenticate") == #"Bearer realm="authd""#)

        let ok = try await http.request("GET", "/auth", headers: Self.bearer(user))
        #expect(ok.status == 200)
        #expect(ok.header("X-Auth-Request-User") == "alice")
        #expect(ok.header("X-Auth-Request-Roles") == "user")
        #expect(ok.header("Remote-User") == "alice")
        #expect(ok.header("Remote-Groups") == "user")
        #expect(ok.header("X-Auth-Request-Jti")?.isEmpty == false)
        #expect(ok.header("Cache-Control") == "no-store")
        // Any method: a proxy may forward the client's.
        #expect(try await http.request("POST", "/auth", headers: Self.bearer(user), body: "ignored").status == 200)
        // The scheme is case-insensitive.
        #expect(try await http.request("GET", "/auth", headers: [("Authorization", "bearer \(user)")]).status == 200)

        let forged = try await http.request("GET", "/auth", headers: Self.bearer(String(user.dropLast(4)) + "AAAA"))
        #expect(forged.status == 401)
        #expect(forged.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) == true)
        #expect(try await http.request("GET", "/auth", headers: [("Authorization", "Basic YWxpY2U6cHc=")]).status == 401)

        let doomed = try await authd.issue(subject: "bob", roles: ["user"]).accessToken
        _ = try await authd.revoke(.token(doomed))
        let revoked = try await http.request("GET", "/auth", headers: Self.bearer(doomed))
        #expect(revoked.status == 401)
        #expect(revoked.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) == true)
        #expect(revoked.header("WWW-Authenticate")?.contains("revoked") == true)

        let admins = try await http.request("GET", "/auth?role=admin", headers: Self.bearer(user))
        #expect(admins.status == 403)
        #expect(admins.header("WWW-Authenticate")?.contains(#"error="insufficient_scope""#) == true)
        #expect(try await http.request("GET", "/auth?role=admin", headers: Self.bearer(admin)).status == 200)
        #expect(try await http.request("GET", "/auth?role=nobody&role=ops", headers: Self.bearer(admin)).status == 200)
        #expect(try await http.request("GET", "/auth?all_roles=admin,ops", headers: Self.bearer(admin)).status == 200)
        #expect(try await http.request("GET", "/auth?all_roles=admin&all_roles=user", headers: Self.bearer(admin)).status == 403)
        #expect(try await http.request("GET", "/auth?audience=elsewhere", headers: Self.bearer(user)).status == 403)

        // From a cookie, when the query names it.
        let cookie = try await http.request("GET", "/auth?cookie=session", headers: [("Cookie", "theme=dark; session=\(user)")])
        #expect(cookie.status == 200)
        #expect(try await http.request("GET", "/auth", headers: [("Cookie", "session=\(user)")]).status == 401)

        // Expired.
        let brief = try await authd.issue(subject: "carol", ttl: 60).accessToken
        clock.advance(by: 120)
        let expired = try await http.request("GET", "/auth", headers: Self.bearer(brief))
        #expect(expired.status == 401)
        #expect(expired.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) == true)
        #expect(await face.daemon.stop() == 0)
    }

    @Test("/auth: a malformed query, an unknown parameter or two Authorization headers is a 400, never a 5xx")
    func malformedQueries() async throws {
        let face = try await Face()
        let token = try await face.daemon.client().issue(subject: "alice").accessToken
        let http = try await face.client()
        for target in ["/auth?role=%zz", "/auth?rol=admin", "/auth?role=", "/auth?audience=a&audience=b", "/auth?cookie=a;b", "/auth?role=%FF"] {
            let reply = try await http.request("GET", target, headers: Self.bearer(token))
            #expect(reply.status == 400, "\(target): \(reply.status)")
        }
        let twice = try await http.request("GET", "/auth", headers: Self.bearer(token) + Self.bearer(token))
        #expect(twice.status == 400)
        #expect(try await http.request("GET", "/auth?role=a%20b", headers: Self.bearer(token)).status == 403)
        #expect(await face.daemon.stop() == 0)
    }

    @Test("/.well-known/jwks.json: the keys jwks returns, an ETag that answers 304, max-age no longer than until the next key")
    func jwks() async throws {
        let face = try await Face(config: "[tokens]\nkey_rotation_interval = 3600\n")
        let http = try await face.client()
        let reply = try await http.request("GET", "/.well-known/jwks.json")
        #expect(reply.status == 200)
        #expect(reply.header("Content-Type") == "application/jwk-set+json")
        let served = try JSONParser().parse(reply.body)
        let expected = try await face.daemon.client().jwks().keys
        guard case .object(let set) = served, case .array(let keys)? = set["keys"] else {
            Issue.record("not a JWK Set: \(reply.text)")
            return
        }
        #expect(keys.count == expected.count && !keys.isEmpty)
        let tag = try #require(reply.header("ETag"))
        let maxAge = try #require(reply.header("Cache-Control").flatMap { $0.split(separator: "=").last.flatMap { Int($0) } })
        #expect(maxAge > 0 && maxAge <= 3600)
        let cached = try await http.request("GET", "/.well-known/jwks.json", headers: [("If-None-Match", tag)])
        #expect(cached.status == 304)
        #expect(cached.body.isEmpty)
        // RFC 9110 §8.6: a 304 may carry a Content-Length only if it is the 200's.
        #expect(cached.header("Content-Length") == nil)
        #expect(cached.header("ETag") == tag)
        // HEAD: the 200's length, no body (the next response reads cleanly after it).
        let head = try await http.request("HEAD", "/.well-known/jwks.json")
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == reply.header("Content-Length"))
        #expect(try await http.request("GET", "/.well-known/jwks.json", headers: [("If-None-Match", "\"other\"")]).status == 200)
        #expect(try await http.request("POST", "/.well-known/jwks.json", body: "{}").status == 405)
        #expect(try await http.request("GET", "/healthz").status == 200)
        #expect(try await http.request("GET", "/issue").status == 404)
        #expect(await face.daemon.stop() == 0)
    }

    /// The value of the sample `name{labels}` in a Prometheus text exposition (labels as emitted).
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test("/metrics: valid for promtool check metrics; counters, histograms and gauges move as requests are made")
    func metrics() async throws {
        let face = try await Face()
        let authd = face.daemon.client()
        let token = try await authd.issue(subject: "frank", roles: ["user"]).accessToken
        let http = try await face.client()
        let before = try await http.request("GET", "/metrics")
        #expect(before.status == 200)
        #expect(before.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)

        for _ in 0..<3 { _ = try await authd.verify(token: token) }
        _ = try? await authd.verify(token: "not-a-token")
        #expect(try await http.request("GET", "/auth", headers: Self.bearer(token)).status == 200)
        _ = try await authd.revoke(.jti("gone"))
        let after = try await http.request("GET", "/metrics")
        let text = after.text
        let ok = #"authd_requests_total{op="verify",code="ok"}"#
        #expect((Self.sample(text, ok) ?? 0) - (Self.sample(before.text, ok) ?? 0) == 4, "\(text)")
        #expect(Self.sample(text, #"authd_requests_total{op="verify",code="invalid_token"}"#) == 1)
        #expect(Self.sample(text, #"authd_requests_total{op="issue",code="ok"}"#) == 1)
        #expect(Self.sample(text, #"authd_request_duration_seconds_count{op="verify"}"#) == 5)
        #expect(Self.sample(text, #"authd_request_duration_seconds_count{op="revoke"}"#) == 1)
        #expect(Self.sample(text, #"authd_http_responses_total{path="/auth",status="200"}"#) == 1)
        #expect(Self.sample(text, "authd_denylist_tokens") == 1)
        #expect(Self.sample(text, "authd_connections").map { $0 >= 1 } == true)
        #expect(Self.sample(text, "authd_http_connections").map { $0 >= 1 } == true)
        #expect(Self.sample(text, "authd_verify_cache_hits_total").map { $0 >= 2 } == true)
        #expect(Self.sample(text, "authd_verify_cache_misses_total").map { $0 >= 1 } == true)
        #expect(Self.sample(text, "authd_active_key_age_seconds").map { $0 >= 0 } == true)
        #expect(Self.sample(text, "authd_fleet_connected") == nil, "a single host has no fleet gauges")

        // Prometheus's own linter, from Debian's prometheus package (`make deps` installs it).
        let promtool = "/usr/bin/promtool"
        try #require(FileManager.default.isExecutableFile(atPath: promtool), "promtool is missing: make deps installs prometheus")
        let lint = try await runCommand(promtool, ["check", "metrics"], input: text)
        #expect(lint.status == 0, "promtool: \(lint.stdout)\(lint.stderr)")
        #expect(await face.daemon.stop() == 0)
    }

    @Test("keep-alive, pipelining and the loopback TCP listener: requests answered in order on one connection")
    func keepAliveAndPipelining() async throws {
        let face = try await Face()
        let token = try await face.daemon.client().issue(subject: "dave", roles: ["user"]).accessToken
        let http = try await face.client()
        for _ in 0..<200 { #expect(try await http.request("GET", "/auth", headers: Self.bearer(token)).status == 200) }
        // Ten requests in one write, alternating answers.
        var batch = ""
        for index in 0..<10 {
            batch += HTTPTestClient.format("GET", index % 2 == 0 ? "/auth" : "/healthz", headers: index % 2 == 0 ? [] : [])
        }
        try await http.connection.send(batch)
        for index in 0..<10 { #expect(try await http.readResponse().status == (index % 2 == 0 ? 401 : 200)) }
        // Answered on the event loop or, with a body, by the connection's task: still in order.
        try await http.connection.send(
            HTTPTestClient.format("GET", "/auth") + HTTPTestClient.format("POST", "/auth?role=admin", headers: Self.bearer(token), body: "xyz")
                + HTTPTestClient.format("GET", "/healthz") + HTTPTestClient.format("GET", "/auth", headers: Self.bearer(token))
                + HTTPTestClient.format("GET", "/nowhere"))
        var mixed: [Int] = []
        for _ in 0..<5 { mixed.append(Int(try await http.readResponse().status)) }
        #expect(mixed == [401, 403, 200, 200, 404])
        // Connection: close is honoured.
        let closing = try await http.request("GET", "/healthz", headers: [("Connection", "close")])
        #expect(closing.header("Connection") == "close")
        #expect(try await http.connection.readLine() == nil)

        var tcp: HTTPTestClient?
        for _ in 0..<300 where tcp == nil {
            tcp = try? HTTPTestClient(loopbackPort: face.port)
            if tcp == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let overTCP = try await #require(tcp).request("GET", "/auth", headers: Self.bearer(token))
        #expect(overTCP.status == 200)
        #expect(overTCP.header("X-Auth-Request-User") == "dave")
        #expect(await face.daemon.stop() == 0)
    }

    @Test("a client that pipelines thousands of requests without reading stalls authd's reading, not its memory; read, it gets every answer in order")
    func pipelinedWithoutReading() async throws {
        // Bytes read and not answered for `line_timeout` close a connection (a client that stops
        // reading holds its slot no longer than that): here the test is the slow reader, and on a
        // loaded machine its draining may take longer than the default 10 s.
        let face = try await Face(config: "[server]\nline_timeout = \"300s\"\n")
        let token = try await face.daemon.client().issue(subject: "erin", roles: ["user"]).accessToken
        let http = try await face.client()
        let count = 6000
        var batch = ""
        for index in 0..<count {
            switch index % 3 {
            case 0: batch += HTTPTestClient.format("GET", "/auth", headers: Self.bearer(token))
            case 1: batch += HTTPTestClient.format("GET", "/auth")
            default: batch += HTTPTestClient.format("HEAD", "/healthz")
            }
        }
        let sender = BlockingSender(descriptor: http.connection.descriptor, bytes: Array(batch.utf8))
        // Nobody reads: once its replies fill the socket, authd stops reading, and the send stalls
        // well short of the whole batch (megabytes). A slow machine can only make it look stalled
        // sooner, never make a daemon that reads everything regardless look as if it stalled.
        var last = -1
        while sender.sent != last, !sender.finished {
            last = sender.sent
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(!sender.finished, "authd read all \(batch.utf8.count) bytes while no reply was read")
        for index in 0..<count {
            let response = try await http.readResponse(toHead: index % 3 == 2)
            let expected = [200, 401, 200][index % 3]
            guard response.status == expected else {
                Issue.record("response \(index): \(response.status), expected \(expected)")
                break
            }
            if index % 3 == 0 { #expect(response.header("X-Auth-Request-User") == "erin") }
        }
        try await sender.completion()
        #expect(try await http.request("GET", "/healthz").status == 200)
        #expect(await face.daemon.stop() == 0)
    }

    @Test("a head that arrives a few bytes at a time, its blank line split between sends, is answered as a whole one is")
    func headInPieces() async throws {
        // The head's first byte starts `line_timeout`; the test is not about it, and a loaded
        // machine must not make it one.
        let face = try await Face(config: "[server]\nline_timeout = \"300s\"\n")
        let token = try await face.daemon.client().issue(subject: "frank", roles: ["user"]).accessToken
        let http = try await face.client()
        let head = Array(HTTPTestClient.format("GET", "/auth?role=user", headers: Self.bearer(token) + [("X-Pad", String(repeating: "p", count: 3000))]).utf8)
        // Pieces of 1 to 7 bytes, and the last four ("\r\n\r\n") one by one; the pauses only make
        // separate reads likely: the answer must be the same however the bytes are read.
        var offset = 0
        var piece = 0
        while offset < head.count - 4 {
            let length = min(1 + piece % 7, head.count - 4 - offset)
            try await http.connection.send(Array(head[offset..<offset + length]))
            offset += length
            piece += 1
            if piece % 40 == 0 { try await Task.sleep(for: .milliseconds(1)) }
        }
        for byte in head[offset...] {
            try await http.connection.send([byte])
            try await Task.sleep(for: .milliseconds(2))
        }
        let answer = try await http.readResponse()
        #expect(answer.status == 200)
        #expect(answer.header("X-Auth-Request-User") == "frank")
        #expect(try await http.request("GET", "/auth", headers: Self.bearer(token)).status == 200)
        #expect(await face.daemon.stop() == 0)
    }

    @Test("a request gets the same answer, head and body, whether the shortcut or NIO's decoder reads it")
    func bothPathsAnswerAlike() async throws {
        let face = try await Face()
        let user = try await face.daemon.client().issue(subject: "gina", roles: ["user"]).accessToken
        let fast = try await face.client()
        let slow = try await face.client()
        // A request with a body sends its connection to NIO's decoder for good.
        #expect(try await slow.request("POST", "/auth", headers: Self.bearer(user), body: "x").status == 200)
        let tag = try #require(try await fast.request("GET", "/.well-known/jwks.json").header("ETag"))
        let requests: [(method: String, target: String, headers: [(String, String)])] = [
            ("GET", "/auth", Self.bearer(user)), ("GET", "/auth", []), ("GET", "/auth?role=admin", Self.bearer(user)),
            ("GET", "/auth?rol=admin", Self.bearer(user)), ("GET", "/auth", Self.bearer(String(user.dropLast(3)) + "AAA")),
            ("HEAD", "/auth", Self.bearer(user)), ("DELETE", "/auth?audience=elsewhere", Self.bearer(user)),
            ("GET", "/.well-known/jwks.json", []), ("GET", "/.well-known/jwks.json", [("If-None-Match", tag)]),
            ("HEAD", "/.well-known/jwks.json", []), ("POST", "/healthz", []), ("GET", "/healthz", []), ("GET", "/nowhere", []),
        ]
        for request in requests {
            let shortcut = try await fast.request(request.method, request.target, headers: request.headers)
            let decoder = try await slow.request(request.method, request.target, headers: request.headers)
            let what = "\(request.method) \(request.target)"
            #expect(shortcut.status == decoder.status, "\(what)")
            #expect(shortcut.headers.map { "\($0.name): \($0.value)" } == decoder.headers.map { "\($0.name): \($0.value)" }, "\(what)")
            #expect(shortcut.body == decoder.body, "\(what)")
        }
        #expect(await face.daemon.stop() == 0)
    }

    @Test("past server.max_connections, a new HTTP connection gets 503 and is closed; the open ones carry on")
    func connectionLimit() async throws {
        let face = try await Face(config: "[server]\nmax_connections = 2\n")
        let first = try await face.client()
        let second = try await face.client()
        #expect(try await first.request("GET", "/healthz").status == 200)
        #expect(try await second.request("GET", "/healthz").status == 200)
        let third = try await face.client()
        let refused = try await third.request("GET", "/healthz")
        #expect(refused.status == 503)
        #expect(refused.text.contains("connections"))
        #expect(try await third.connection.readLine() == nil)
        #expect(try await first.request("GET", "/healthz").status == 200)
        #expect(await face.daemon.stop() == 0)
    }

    @Test("hostile HTTP: a bad request line and an oversized head get 400, a large body 413; the daemon carries on")
    func hostileRequests() async throws {
        let face = try await Face()
        let garbage = try await face.client()
        try await garbage.connection.send("NOT HTTP AT ALL\r\n\r\n")
        #expect(try await garbage.readResponse().status == 400)
        #expect(try await garbage.connection.readLine() == nil)

        let oversized = try await face.client()
        try await oversized.connection.send(
            HTTPTestClient.format("GET", "/auth", headers: [("X-Padding", String(repeating: "a", count: 20_000))]))
        #expect(try await oversized.readResponse().status == 400)

        let large = try await face.client()
        #expect(try await large.request("POST", "/auth", body: String(repeating: "b", count: 20_000)).status == 413)

        #expect(try await face.client().request("GET", "/healthz").status == 200)
        #expect(face.daemon.log.contains("malformed HTTP request answered 400"))
        #expect(await face.daemon.stop() == 0)
    }
}

/// Sends bytes on a socket from a thread of its own, blocking as long as the peer does not read,
/// and tells how far it got.
final class BlockingSender: @unchecked Sendable {
    private let progress = NSLock()
    private var sentSoFar = 0
    private var result: Result<Void, any Error>?
    private let done = DispatchSemaphore(value: 0)

    init(descriptor: Int32, bytes: [UInt8]) {
        Thread.detachNewThread { [self] in
            var offset = 0
            var outcome: Result<Void, any Error> = .success(())
            while offset < bytes.count {
                let count = bytes[offset...].withUnsafeBytes { send(descriptor, $0.baseAddress, min($0.count, 65536), Int32(MSG_NOSIGNAL)) }
                guard count > 0 else {
                    outcome = .failure(DaemonError("send failed: \(String(cString: strerror(errno)))"))
                    break
                }
                offset += count
                progress.withLock { sentSoFar = offset }
            }
            progress.withLock { result = outcome }
            done.signal()
        }
    }

    var sent: Int { progress.withLock { sentSoFar } }
    var finished: Bool { progress.withLock { result != nil } }

    /// Waits (off the cooperative pool) for the last byte to go out.
    func completion() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                self.done.wait()
                continuation.resume(with: self.progress.withLock { self.result! })
            }
        }
    }
}
