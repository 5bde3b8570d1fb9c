import AuthdCore
import AuthdProtocol
import Logging

/// The account ops of ``RequestHandler``: `login`, which anyone may call, and the `user_*` ops,
/// which need the `admin` grant. Every outcome is audit-logged with the caller's credentials;
/// passwords and tokens never are.
enum AccountAdministration {
    /// The admin ops.
    static let ops: Set<String> = [
        UserAddRequest.op, UserSetPasswordRequest.op, UserSetRolesRequest.op, UserDisableRequest.op,
        UserEnableRequest.op, UserDeleteRequest.op, UserListRequest.op,
    ]
}

extension RequestHandler {
    func login(_ request: LoginRequest, tokens: TokenService, caller: Caller) async throws(AuthdError) -> IssueResult {
        let base: Logger.Metadata = ["authd.op": "login", "authd.user": "\(Self.printable(request.username))"]
            .withPeer(caller)
        do {
            let result = try await accounts.login(request, tokens: tokens)
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

    func administer(_ envelope: RequestEnvelope, tokens: TokenService, caller: Caller) async throws(AuthdError) -> JSONObject {
        let fields = envelope.fields
        let result: UserResult
        switch envelope.op {
        case UserListRequest.op:
            _ = try UserListRequest(fields: fields)
            return try accounts.list().result
        case UserAddRequest.op: result = try await accounts.add(UserAddRequest(fields: fields), tokens: tokens)
        case UserSetPasswordRequest.op: result = try await accounts.setPassword(UserSetPasswordRequest(fields: fields), tokens: tokens)
        case UserSetRolesRequest.op: result = try await accounts.setRoles(UserSetRolesRequest(fields: fields), tokens: tokens)
        case UserDisableRequest.op: result = try await accounts.disable(UserDisableRequest(fields: fields), tokens: tokens)
        case UserEnableRequest.op: result = try await accounts.enable(UserEnableRequest(fields: fields), tokens: tokens)
        case UserDeleteRequest.op: result = try await accounts.delete(UserDeleteRequest(fields: fields), tokens: tokens)
        default: throw AuthdError(.unknownOp, "unknown op '\(Self.printable(envelope.op))'")
        }
        logger.notice(
            "user changed",
            metadata: [
                AuditEvent.metadataKey: "\(AuditEvent.userChanged.messageID)", "authd.op": "\(envelope.op)",
                "authd.user": "\(result.user.username)", "authd.roles": "\(result.user.roles.joined(separator: ","))",
                "authd.disabled": "\(result.user.disabled)",
            ].withPeer(caller))
        return result.result
    }
}
