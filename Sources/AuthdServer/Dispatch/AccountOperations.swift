import AuthdCore
import AuthdProtocol
import Logging

/// The account ops of ``RequestHandler``: `login`, which anyone may call, and the `user_*` ops,
/// which need the `admin` grant (declared in ``RequestHandler/operations``). Every outcome is
/// audit-logged with the caller's credentials; passwords and tokens never are.
extension RequestHandler {
    func login(_ request: LoginRequest, _ context: OperationContext) async throws(AuthdError) -> IssueResult {
        let base: Logger.Metadata = ["authd.op": "login", "authd.user": "\(Self.printable(request.username))"]
            .withPeer(context.caller)
        do {
            let result = try await accounts.login(request, tokens: context.tokens)
            logger.info(
                "login succeeded",
                metadata: base.merging([
                    AuditEvent.metadataKey: "\(AuditEvent.loginSucceeded.messageID)", "authd.jti": "\(result.jti)",
                    "authd.exp": "\(result.expiresAt)",
                ]) { current, _ in current })
            return result
        } catch {
            logger.notice(
                "login failed",
                metadata: base.merging([
                    AuditEvent.metadataKey: "\(AuditEvent.loginFailed.messageID)", "authd.code": "\(error.error.code)",
                    "authd.reason": "\(error.reason)",
                ]) { current, _ in current })
            throw error.error
        }
    }

    func userList(_ request: UserListRequest, _ context: OperationContext) async throws(AuthdError) -> UserListResult {
        try await accounts.list()
    }

    /// The handler of a `user_*` op that changes an account: `change` on the account service,
    /// then an audit line.
    func accountChange<Request: AuthdOperation>(
        _ change: @escaping @Sendable (AccountService) -> (Request, TokenService) async throws(AuthdError) -> UserResult
    ) -> (Request, OperationContext) async throws(AuthdError) -> UserResult {
        { request, context throws(AuthdError) in
            try self.audited(Request.op, context, try await change(self.accounts)(request, context.tokens))
        }
    }

    /// Logs a change an admin made, and passes its result on.
    private func audited(_ op: String, _ context: OperationContext, _ result: UserResult) throws(AuthdError) -> UserResult {
        logger.notice(
            "user changed",
            metadata: [
                AuditEvent.metadataKey: "\(AuditEvent.userChanged.messageID)", "authd.op": "\(op)",
                "authd.user": "\(result.user.username)", "authd.roles": "\(result.user.roles.joined(separator: ","))",
                "authd.disabled": "\(result.user.disabled)",
            ].withPeer(context.caller))
        return result
    }
}
