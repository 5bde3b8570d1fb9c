/// The audit trail's event types. Each has a fixed 128-bit `MESSAGE_ID`, so operators can select
/// one kind of event in the journal (`journalctl MESSAGE_ID=…`); the README lists them.
public struct AuditEvent: Sendable, Hashable {
    /// The journal `MESSAGE_ID`: 32 lower-case hex digits, never changed once released.
    public let messageID: String
    /// A short name for humans.
    public let name: String

    /// A token was issued.
    public static let tokenIssued = AuditEvent(messageID: "5d1e0c8f3a7b4e2f9c6d8a1b0e7f3c42", name: "token-issued")
    /// `verify` refused a token.
    public static let verificationRefused = AuditEvent(messageID: "a3f6c2e81b9d4f07a5e4c3b2d1f0e9a8", name: "verification-refused")
    /// A token, subject or session was revoked.
    public static let tokenRevoked = AuditEvent(messageID: "7c2b9e4d1f6a4c8b9e3d2a1f0b8c7d61", name: "token-revoked")
    /// A password login succeeded.
    public static let loginSucceeded = AuditEvent(messageID: "e1d4a7c2b5f84e3a9d6c1b0f7e2a5c93", name: "login-succeeded")
    /// A password login failed.
    public static let loginFailed = AuditEvent(messageID: "0f9e8d7c6b5a4f3e8d2c1b0a9f8e7d64", name: "login-failed")
    /// The signing key was rotated.
    public static let keyRotated = AuditEvent(messageID: "b8a7f6e5d4c34b2a8f1e0d9c8b7a6f55", name: "key-rotated")
    /// A caller was refused an op by policy.
    public static let permissionDenied = AuditEvent(messageID: "3e2d1c0b9a8f4e7d8c6b5a4f3e2d1c07", name: "permission-denied")

    /// An admin op created, changed or deleted a user.
    public static let userChanged = AuditEvent(messageID: "665e6817f35b0b789fa714ff057663cf", name: "user-changed")

    /// Every event type, for documentation and tests.
    public static let all: [AuditEvent] = [
        .tokenIssued, .verificationRefused, .tokenRevoked, .loginSucceeded, .loginFailed, .keyRotated, .permissionDenied,
        .userChanged,
    ]

    /// The metadata key that carries the id; the journal handler turns it into `MESSAGE_ID`.
    public static let metadataKey = "authd.message_id"
}
