import AuthdCore
import AuthdProtocol

/// Who may call an op. Every op declares one: ``Operation/init(_:access:handler:)`` has no
/// default, so an op without a declaration does not build.
enum OperationAccess: Sendable, Equatable {
    /// Anyone who can connect to the socket (the socket's mode and group are the gate).
    case anyPeer
    /// root, authd's own user, and callers holding this `[[policy.grant]]` op.
    case grant(String)
}

/// What a handler answers: a result object, or a result already encoded (a verified token's,
/// encoded once when the token was first verified).
enum OperationReply: Sendable {
    case object(JSONObject)
    case encoded([UInt8])
}

/// What a handler may use besides its request.
struct OperationContext: Sendable {
    let caller: Caller
    let tokens: TokenService
    let policy: Policy
}

/// One op of the protocol: its name and request type (from ``AuthdOperation``), who may call it,
/// and its handler.
struct Operation: Sendable {
    let name: String
    let access: OperationAccess
    let run: @Sendable (RequestHandler, JSONObject, OperationContext) async throws(AuthdError) -> OperationReply
    /// The op's answer when it needs nothing but the CPU, given on the event loop that read the
    /// request; `nil` (or no such handler) when it must wait, and ``run`` answers.
    private(set) var runWithoutWaiting: (@Sendable (RequestHandler, JSONObject, OperationContext) throws(AuthdError) -> OperationReply?)?

    /// An op whose handler returns `Request.Result`, and that may be able to answer without
    /// waiting (`withoutWaiting` returns `nil` when it cannot).
    init<Request: AuthdOperation>(
        _ request: Request.Type, access: OperationAccess,
        handler: @escaping @Sendable (RequestHandler) -> (Request, OperationContext) async throws(AuthdError) -> Request.Result,
        withoutWaiting: (@Sendable (RequestHandler) -> (Request, OperationContext) throws(AuthdError) -> Request.Result?)? = nil
    ) {
        self.init(request, access: access) { (server: RequestHandler, request: Request, context: OperationContext) async throws(AuthdError) -> OperationReply in
            .object(try await handler(server)(request, context).result)
        }
        if let withoutWaiting {
            runWithoutWaiting = { server, fields, context throws(AuthdError) in
                try withoutWaiting(server)(try Request(fields: fields), context).map { .object($0.result) }
            }
        }
    }

    /// An op whose handler encodes its own result.
    init<Request: AuthdOperation>(
        _ request: Request.Type, access: OperationAccess,
        replying: @escaping @Sendable (RequestHandler, Request, OperationContext) async throws(AuthdError) -> OperationReply
    ) {
        name = Request.op
        self.access = access
        run = { handler, fields, context throws(AuthdError) in
            try await replying(handler, try Request(fields: fields), context)
        }
        runWithoutWaiting = nil
    }
}

extension RequestHandler {
    /// Every op authd serves, each declared once. The server refuses anything else as `unknown_op`.
    static let operations: [String: Operation] = {
        let all: [Operation] = [
            Operation(VerifyRequest.self, access: .anyPeer) { handler, request, context throws(AuthdError) in
                .encoded(try await handler.verify(request, tokens: context.tokens).encodedResult)
            },
            Operation(IssueRequest.self, access: .grant("issue"), handler: { $0.issue }, withoutWaiting: { $0.issueWithoutWaiting }),
            Operation(RefreshRequest.self, access: .anyPeer, handler: { $0.refresh }),
            Operation(RevokeRequest.self, access: .grant("revoke"), handler: { $0.revoke }),
            Operation(LoginRequest.self, access: .anyPeer, handler: { $0.login }),
            Operation(UserAddRequest.self, access: .grant("admin"), handler: { $0.accountChange(AccountService.add) }),
            Operation(UserSetPasswordRequest.self, access: .grant("admin"), handler: { $0.accountChange(AccountService.setPassword) }),
            Operation(UserSetRolesRequest.self, access: .grant("admin"), handler: { $0.accountChange(AccountService.setRoles) }),
            Operation(UserDisableRequest.self, access: .grant("admin"), handler: { $0.accountChange(AccountService.disable) }),
            Operation(UserEnableRequest.self, access: .grant("admin"), handler: { $0.accountChange(AccountService.enable) }),
            Operation(UserDeleteRequest.self, access: .grant("admin"), handler: { $0.accountChange(AccountService.delete) }),
            Operation(UserListRequest.self, access: .grant("admin"), handler: { $0.userList }),
            Operation(JWKSRequest.self, access: .anyPeer, handler: { $0.jwks }),
            Operation(StatusRequest.self, access: .anyPeer, handler: { $0.status }),
            Operation(PingRequest.self, access: .anyPeer, handler: { $0.ping }),
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }()
}
