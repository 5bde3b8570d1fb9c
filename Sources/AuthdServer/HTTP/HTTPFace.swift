import AuthdCore
import AuthdProtocol
import NIOHTTP1
import Synchronization

/// How many connections the HTTP face has open, and has accepted since start.
final class OpenConnections: Sendable {
    private let value = Atomic<Int>(0)
    private let total = Atomic<Int>(0)
    var count: Int { value.load(ordering: .relaxed) }
    var accepted: Int { total.load(ordering: .relaxed) }
    func opened() {
        value.add(1, ordering: .relaxed)
        total.add(1, ordering: .relaxed)
    }
    func closed() { value.subtract(1, ordering: .relaxed) }
}

/// What the HTTP face answers, by path: `/auth` (forward-auth, any method),
/// `/.well-known/jwks.json`, `/metrics`, `/healthz`. Read-only by design: nothing here issues,
/// revokes, logs in or administers.
struct HTTPFace: Sendable {
    /// How long a JWKS may be cached at most, whatever the keys' schedule.
    static let maximumJWKSLifetime: Int64 = 3600
    /// The paths served; any other is counted as `other` in the metrics.
    static let paths: Set<String> = ["/auth", "/.well-known/jwks.json", "/metrics", "/healthz"]

    let handler: RequestHandler
    /// The node's standing with its fleet, when it has one (for `/healthz` and the metrics).
    let fleet: FleetHealth?
    let metrics: AuthdMetrics
    let counters: AuthdCounters
    /// Open HTTP connections (the server keeps the count).
    let openConnections: OpenConnections

    /// Counts an answered request by path (any path not served counts as `other`) and status.
    func record(uri: String, status: HTTPResponseStatus) {
        let path = String(Self.split(uri).path)
        metrics.recordHTTP(path: Self.paths.contains(path) ? path : "other", status: status.code)
    }

    /// What the face answers to a request: the reply at once, or, for a fleet node's `/auth` of a
    /// token whose key it must first read from the database, the verification that waits for it.
    enum Answer {
        case now(HTTPReply)
        case afterReadingKeys(VerifyRequest)
    }

    /// The reply to a request.
    func reply(method: HTTPMethod, uri: String, headers: some HTTPRequestFields) async -> HTTPReply {
        switch answer(method: method, uri: uri, headers: headers) {
        case .now(let reply):
            return reply
        case .afterReadingKeys(let request):
            let started = ContinuousClock.now
            let outcome: Result<VerifiedToken, AuthdError>
            do {
                outcome = .success(try await handler.verify(request, tokens: handler.tokensInForce))
            } catch {
                outcome = .failure(error)
            }
            return forwardAuthReply(outcome, started: started)
        }
    }

    /// The answer to a request, computed with nothing but the CPU, so that the event loop that
    /// read the request can give it when it is ``Answer/now(_:)``.
    func answer(method: HTTPMethod, uri: String, headers: some HTTPRequestFields) -> Answer {
        let (path, query) = Self.split(uri)
        switch path {
        case "/auth":
            switch ForwardAuth.question(query: query, headers: headers) {
            case .refused(let refusal): return .now(Self.decision(refusal))
            case .noToken: return .now(Self.decision(ForwardAuth.missingToken))
            case .verify(let request):
                let started = ContinuousClock.now
                guard let outcome = handler.verifyWithoutWaiting(request) else { return .afterReadingKeys(request) }
                return .now(forwardAuthReply(outcome, started: started))
            }
        default:
            return .now(resource(method: method, path: path, headers: headers))
        }
    }

    /// Every path but `/auth`.
    private func resource(method: HTTPMethod, path: Substring, headers: some HTTPRequestFields) -> HTTPReply {
        switch path {
        case "/.well-known/jwks.json":
            guard method == .GET || method == .HEAD else { return Self.methodNotAllowed }
            return jwks(headers: headers)
        case "/healthz":
            guard method == .GET || method == .HEAD else { return Self.methodNotAllowed }
            return health()
        case "/metrics":
            guard method == .GET || method == .HEAD else { return Self.methodNotAllowed }
            let body = metrics.render(
                tokens: handler.tokensInForce, counters: counters, httpConnections: openConnections.count, fleet: fleet)
            var reply = HTTPReply(.ok, body: body, contentType: "text/plain; version=0.0.4; charset=utf-8")
            reply.headers.add(name: "Cache-Control", value: "no-store")
            return reply
        default:
            return .text(.notFound, "not found (authd serves /auth, /.well-known/jwks.json, /metrics, /healthz)")
        }
    }

    private static var methodNotAllowed: HTTPReply { .text(.methodNotAllowed, "only GET and HEAD", headers: ["Allow": "GET, HEAD"]) }

    private func forwardAuthReply(_ outcome: Result<VerifiedToken, AuthdError>, started: ContinuousClock.Instant) -> HTTPReply {
        metrics.record(op: VerifyRequest.op, code: outcome.failureCode, duration: .now - started)
        return Self.decision(ForwardAuth.reply(outcome))
    }

    /// A decision about one request: never to be reused by a cache on the way. (``ForwardAuth``'s
    /// replies have no `Cache-Control` of their own.)
    private static func decision(_ reply: HTTPReply) -> HTTPReply {
        var reply = reply
        reply.headers.add(name: "Cache-Control", value: "no-store")
        return reply
    }

    private static func split(_ uri: String) -> (path: Substring, query: Substring?) {
        guard let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (uri[...], nil) }
        return (uri[..<mark], uri[uri.utf8.index(after: mark)...])
    }

    /// The public keys, cacheable until the next key is due and validated by an `ETag`.
    private func jwks(headers: some HTTPRequestFields) -> HTTPReply {
        let tokens = handler.tokensInForce
        let body = JSONWriter.bytes(.object(tokens.jwks().result))
        let tag = "\"\(Self.fingerprint(body))\""
        let lifetime = tokens.jwksLifetime(limit: Self.maximumJWKSLifetime)
        var reply = HTTPReply(.ok, body: body, contentType: "application/jwk-set+json")
        if Self.matches(headers["If-None-Match"], tag) { reply = HTTPReply(.notModified) }
        reply.headers.add(name: "ETag", value: tag)
        reply.headers.add(name: "Cache-Control", value: "public, max-age=\(lifetime)")
        return reply
    }

    private func health() -> HTTPReply {
        if let fleet, fleet.refusesPeerTokens {
            return .text(.serviceUnavailable, "stale: this fleet node refuses other nodes' tokens until it has caught up")
        }
        return .text(.ok, "ok")
    }

    /// Whether an `If-None-Match` list names `tag` (weak comparison, RFC 9110 §13.1.2).
    private static func matches(_ fields: [String], _ tag: String) -> Bool {
        for field in fields {
            for candidate in field.split(separator: ",") {
                var candidate = candidate.drop { $0 == " " || $0 == "\t" }
                while candidate.last == " " || candidate.last == "\t" { candidate = candidate.dropLast() }
                if candidate == "*" { return true }
                if candidate.hasPrefix("W/") { candidate = candidate.dropFirst(2) }
                if candidate == tag[...] { return true }
            }
        }
        return false
    }

    /// A 64-bit FNV-1a of the body, in hex: an entity tag needs change detection, not secrecy.
    private static func fingerprint(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return String(hash, radix: 16)
    }
}
