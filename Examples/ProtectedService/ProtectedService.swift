import ArgumentParser
import AuthdClient
import AuthdProtocol
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The tutorial's web service, with authd doing the security: `POST /login` exchanges a username
/// and password for a bearer token, `GET /protected` needs any valid token (401 otherwise) and
/// `GET /admin` needs the `admin` role (403 otherwise). The service holds no keys and no password
/// database; on every request it asks authd through one shared ``AuthdClient``.
@main
struct ProtectedService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authd-example-service",
        abstract: "An example HTTP service that checks bearer tokens with authd on every request.")

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0 picks a free one).") var port = 8080
    @Option(help: "authd's socket. [default: $AUTHD_SOCKET, or /run/authd/authd.sock]") var socket: String?

    func run() async throws {
        let authd = AuthdClient(socketPath: socket ?? AuthdClient.defaultSocketPath)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        // Written unbuffered: a script waiting for this line may be reading a pipe or a file.
        let banner = Array("listening on http://\(host):\(server.channel.localAddress?.port ?? port)\n".utf8)
        _ = banner.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        let routes = Routes(authd: authd)
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { try? await Self.serve(connection, routes: routes) }
                }
            }
        }
    }

    /// Reads requests off one connection and answers each in turn.
    private static func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, routes: Routes
    ) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                case .body(var chunk):
                    // Login bodies are tiny; anything bigger is refused rather than buffered.
                    if body.readableBytes + chunk.readableBytes <= 16_384 { body.writeBuffer(&chunk) } else { head = nil }
                case .end:
                    let response =
                        if let head { await routes.respond(to: head, body: body) } else {
                            Response.json(.payloadTooLarge, ["detail": "request too large"])
                        }
                    var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "\(response.body.readableBytes)")])
                    headers.add(contentsOf: response.extraHeaders)
                    try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(response.body)))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }
}

/// An HTTP answer.
struct Response: Sendable {
    var status: HTTPResponseStatus
    var body: ByteBuffer
    var extraHeaders: [(String, String)] = []

    static func json(_ status: HTTPResponseStatus, _ object: JSONObject, headers: [(String, String)] = []) -> Response {
        Response(status: status, body: ByteBuffer(bytes: JSONWriter.bytes(.object(object))), extraHeaders: headers)
    }
}

/// The three routes of the tutorial, each answered with authd's help.
struct Routes: Sendable {
    let authd: AuthdClient

    func respond(to head: HTTPRequestHead, body: ByteBuffer) async -> Response {
        switch (head.method, head.uri) {
        case (.POST, "/login"): return await login(body)
        case (.GET, "/protected"):
            return await guarded(head, roles: nil) { claims in ["message": .string("Hello, \(claims.subject)! You are authenticated.")] }
        case (.GET, "/admin"):
            return await guarded(head, roles: ["admin"]) { _ in ["message": "Welcome, admin!"] }
        default: return .json(.notFound, ["detail": "Not Found"])
        }
    }

    private func login(_ body: ByteBuffer) async -> Response {
        guard case .object(let fields)? = try? JSONParser().parse(Array(body.readableBytesView)),
            case .string(let username)? = fields["username"], case .string(let password)? = fields["password"]
        else { return .json(.badRequest, ["detail": "send {\"username\": …, \"password\": …}"]) }
        do {
            let token = try await authd.login(username: username, password: password)
            return .json(.ok, ["access_token": .string(token.accessToken), "token_type": "bearer"])
        } catch {
            switch error.code {
            case .invalidCredentials: return .json(.unauthorized, ["detail": "Invalid username or password"])
            case .tooManyAttempts: return .json(.tooManyRequests, ["detail": "Too many failed logins; try again later"])
            case .daemonUnreachable: return .json(.serviceUnavailable, ["detail": "authentication is unavailable"])
            default: return .json(.badRequest, ["detail": .string(error.message)])
            }
        }
    }

    /// Runs `handler` only for a request whose bearer token authd accepts, with the roles asked for.
    private func guarded(
        _ head: HTTPRequestHead, roles: [String]?, _ handler: (VerifyResult) -> JSONObject
    ) async -> Response {
        let check = await authd.authorize(bearer: head.headers.first(name: "Authorization"), requireAnyRole: roles)
        if let claims = check.claims { return .json(.ok, handler(claims)) }
        switch check.outcome {
        case .unauthenticated:
            return .json(.unauthorized, ["detail": "Invalid or expired token"], headers: [("WWW-Authenticate", #"Bearer error="invalid_token""#)])
        case .forbidden:
            return .json(.forbidden, ["detail": "Access forbidden"], headers: [("WWW-Authenticate", #"Bearer error="insufficient_scope""#)])
        default:
            // .unavailable, or an outcome a later AuthdClient adds: fail closed.
            return .json(.serviceUnavailable, ["detail": "authentication is unavailable"])
        }
    }
}
