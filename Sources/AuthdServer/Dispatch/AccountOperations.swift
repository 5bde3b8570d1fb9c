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

    func userAdd(_ request: UserAddRequest, _ context: OperationContext) async throws(AuthdError) -> UserResult {
        try audited(UserAddRequest.op, context, try await accounts.add(request, tokens: context.tokens))
    }

    func userSetPassword(_ request: UserSetPasswordRequest, _ context: OperationContext) async throws(AuthdError) -> UserResult {
        try audited(UserSetPasswordRequest.op, context, try await accounts.setPassword(request, tokens: context.tokens))
    }

    func userSetRoles(_ request: UserSetRolesRequest, _ context: OperationContext) async throws(AuthdError) -> UserResult {
        try audited(UserSetRolesRequest.op, context, try await accounts.setRoles(request, tokens: context.tokens))
    }

    func userDisable(_ request: UserDisableRequest, _ context: OperationContext) async throws(AuthdError) -> UserResult {
        try audited(UserDisableRequest.op, context, try await accounts.disable(request, tokens: context.tokens))
    }

    func userEnable(_ request: UserEnableRequest, _ context: OperationContext) async throws(AuthdError) -> UserResult {
        try audited(UserEnableRequest.op, context, try await accounts.enable(request, tokens: context.tokens))
    }

    func userDelete(_ request: UserDeleteRequest, _ context: OperationContext) async throws(AuthdError) -> UserResult {
        try audited(UserDeleteRequest.op, context, try await accounts.delete(request, tokens: context.tokens))
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
