/// `refresh`: exchange a refresh token for a new access token and a new refresh token.
///
/// The presented token is spent. Presenting a spent token again is reuse: the whole family is
/// revoked, access tokens included, and the answer is `refresh_reused`.
public struct RefreshRequest: AuthdOperation, Hashable {
    package typealias Result = IssueResult
    package static let op = "refresh"

    /// The refresh token.
    public var refreshToken: String

    /// A refresh request.
    public init(refreshToken: String) { self.refreshToken = refreshToken }

    package init(fields: JSONObject) throws(AuthdError) {
        var reader = FieldReader(fields, context: "refresh request")
        refreshToken = try reader.string("refresh_token")
        try reader.finish()
    }

    package var fields: JSONObject { ["refresh_token": .string(refreshToken)] }
}
