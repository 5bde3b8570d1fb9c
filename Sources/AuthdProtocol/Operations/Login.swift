/// `login`: exchange a username and password for an access token carrying the user's roles, and a
/// refresh token.
///
/// A wrong password, an unknown user and a disabled account all answer `invalid_credentials`, in
/// the same time. Repeated failures for one username answer `too_many_attempts` for a while.
public struct LoginRequest: AuthdOperation, Hashable, CustomStringConvertible {
    package typealias Result = IssueResult
    package static let op = "login"

    /// The user's name.
    public var username: String
    /// The password, in clear: it crosses only the local socket, and authd never stores or logs it.
    public var password: String
    /// Audiences for the token; `nil` means the daemon's default audience.
    public var audience: [String]?

    /// A login request.
    public init(username: String, password: String, audience: [String]? = nil) {
        self.username = username
        self.password = password
        self.audience = audience
    }

    package init(fields: JSONObject) throws(AuthdError) {
        var reader = FieldReader(fields, context: "login request")
        username = try reader.string("username")
        password = try reader.string("password")
        audience = try reader.optionalStringOrArray("aud")
        try reader.finish()
    }

    package var fields: JSONObject {
        var object: JSONObject = ["username": .string(username), "password": .string(password)]
        if let audience { object["aud"] = .strings(audience) }
        return object
    }

    /// The request without its password, so that printing it cannot leak the secret.
    public var description: String { "LoginRequest(username: \(username), password: <redacted>)" }
}
