import AuthdCore
import AuthdProtocol
import NIOHTTP1

/// `/auth`: the question a reverse proxy asks authd before it lets a request through (nginx's
/// `auth_request`, Caddy's `forward_auth`, Traefik's ForwardAuth), answered as RFC 6750 says.
///
/// The token comes from `Authorization: Bearer …`, or, when the query names one with `cookie=`,
/// from that cookie. The query says what the token must carry: `role=` (repeatable; any of them),
/// `all_roles=` (repeatable or comma-separated; every one), `audience=`. Any other parameter is a
/// 400: a misspelt `rol=admin` must not silently skip the role check.
enum ForwardAuth {
    static let parameters: Set<String> = ["role", "all_roles", "audience", "cookie"]

    /// What the proxy asks.
    enum Question: Sendable {
        /// Verify this.
        case verify(VerifyRequest)
        /// The request carries no token.
        case noToken
        /// The query is malformed: answer this (a 400).
        case refused(HTTPReply)
    }

    /// What the proxy asks, read from the query and the headers.
    static func question(query: Substring?, headers: some HTTPRequestFields) -> Question {
        guard let query = HTTPQuery(query) else { return .refused(.text(.badRequest, "malformed query string")) }
        let unknown = query.unknownNames(parameters)
        guard unknown.isEmpty else {
            return .refused(.text(.badRequest, "unknown query parameter '\(HTTPReply.headerValue(unknown[0]))' (known: all_roles, audience, cookie, role)"))
        }
        let rolesAny = query.values("role")
        let rolesAll = query.values("all_roles").flatMap { $0.split(separator: ",").map(String.init) }
        let audiences = query.values("audience")
        let cookies = query.values("cookie")
        guard !(rolesAny + rolesAll).contains(where: \.isEmpty), !query.values("all_roles").contains(where: \.isEmpty) else {
            return .refused(.text(.badRequest, "an empty role in the query"))
        }
        guard audiences.count <= 1, audiences.first?.isEmpty != true else {
            return .refused(.text(.badRequest, "audience must be given at most once, and not empty"))
        }
        // RFC 6265: a cookie name is a token.
        guard cookies.count <= 1, cookies.allSatisfy(HTTPSyntax.isToken) else {
            return .refused(.text(.badRequest, "cookie must be given at most once, as a cookie name"))
        }
        let authorizations = headers["Authorization"]
        guard authorizations.count <= 1 else { return .refused(.text(.badRequest, "more than one Authorization header")) }
        let token = authorizations.first.flatMap(bearerToken) ?? cookies.first.flatMap { cookie(named: $0, in: headers) }
        guard let token else { return .noToken }
        return .verify(
            VerifyRequest(
                token: token, audience: audiences.first, rolesAny: rolesAny.isEmpty ? nil : rolesAny,
                rolesAll: rolesAll.isEmpty ? nil : rolesAll))
    }

    /// 401 for a request without a token: the challenge, and nothing else (RFC 6750 §3.1 sends no
    /// error code when the request had no credentials).
    static var missingToken: HTTPReply {
        var reply = HTTPReply.text(.unauthorized, "a bearer token is required")
        reply.headers.add(name: "WWW-Authenticate", value: #"Bearer realm="authd""#)
        return reply
    }

    /// The answer to a verification: 200 with the identity in headers the proxy can copy
    /// upstream; 401 `invalid_token`; 403 `insufficient_scope`; 503 when a stale fleet node may
    /// not vouch for the token. Never a 5xx for anything the client sent.
    static func reply(_ outcome: Result<VerifiedToken, AuthdError>) -> HTTPReply {
        switch outcome {
        case .success(let verified):
            let claims = verified.result
            let roles = HTTPReply.headerValue(claims.roles.joined(separator: ","))
            let subject = HTTPReply.headerValue(claims.subject)
            var reply = HTTPReply(.ok)
            reply.headers.add(name: "X-Auth-Request-User", value: subject)
            reply.headers.add(name: "X-Auth-Request-Roles", value: roles)
            reply.headers.add(name: "X-Auth-Request-Jti", value: HTTPReply.headerValue(claims.jti))
            reply.headers.add(name: "Remote-User", value: subject)
            reply.headers.add(name: "Remote-Groups", value: roles)
            return reply
        case .failure(let error):
            switch error.code {
            case .insufficientRole, .wrongAudience:
                return challenge(.forbidden, error: "insufficient_scope", description: error.message)
            case .fleetUnavailable:
                var reply = HTTPReply.text(.serviceUnavailable, "this node cannot vouch for the token now")
                reply.headers.add(name: "Retry-After", value: "5")
                return reply
            default:
                // Expired, revoked, forged, malformed, too long: whatever it is, the token does not do.
                return challenge(.unauthorized, error: "invalid_token", description: error.message)
            }
        }
    }

    private static func challenge(_ status: HTTPResponseStatus, error: String, description: String) -> HTTPReply {
        // A quoted-string may hold neither '"' nor '\' unescaped: they are left out.
        let safe = HTTPReply.headerValue(description).filter { $0 != "\"" && $0 != "\\" }
        var reply = HTTPReply(
            status, body: Array(#"{"error":"\#(error)","error_description":"\#(safe)"}"#.utf8), contentType: "application/json")
        reply.headers.add(name: "WWW-Authenticate", value: #"Bearer realm="authd", error="\#(error)", error_description="\#(safe)""#)
        return reply
    }

    /// The token of `Bearer <token>` (the scheme is case-insensitive, RFC 7235 §2.1).
    static func bearerToken(_ header: String) -> String? {
        // Read by bytes, not by characters: the token is hundreds of them, on every request.
        // The scheme is what precedes the first space (leading spaces skipped); the token is the
        // rest, without spaces or tabs around it.
        let utf8 = header.utf8
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var start = utf8.startIndex
        while start != utf8.endIndex, utf8[start] == UInt8(ascii: " ") { start = utf8.index(after: start) }
        guard let gap = utf8[start...].firstIndex(of: UInt8(ascii: " ")), header[start..<gap].lowercased() == "bearer" else { return nil }
        var tokenStart = utf8.index(after: gap)
        while tokenStart != utf8.endIndex, isBlank(utf8[tokenStart]) { tokenStart = utf8.index(after: tokenStart) }
        var tokenEnd = utf8.endIndex
        while tokenEnd > tokenStart, isBlank(utf8[utf8.index(before: tokenEnd)]) { tokenEnd = utf8.index(before: tokenEnd) }
        return tokenEnd > tokenStart ? String(header[tokenStart..<tokenEnd]) : nil
    }

    /// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 §5.4).
    private static func cookie(named name: String, in headers: some HTTPRequestFields) -> String? {
        for header in headers["Cookie"] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, parts[0].trimmingSpaces() == name[...] else { continue }
                var value = parts[1].trimmingSpaces()
                if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
                return value.isEmpty ? nil : String(value)
            }
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var trimmed = self
        while trimmed.first == " " || trimmed.first == "\t" { trimmed = trimmed.dropFirst() }
        while trimmed.last == " " || trimmed.last == "\t" { trimmed = trimmed.dropLast() }
        return trimmed
    }
}
