import ArgumentParser
import AuthdProtocol

/// authctl's exit statuses: one per class of failure, so that scripts can branch on `$?`.
/// The table is part of authctl's interface and documented in the README; numbers never change meaning.
enum ExitStatus {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let badRequest: Int32 = 2
    static let unreachable: Int32 = 3
    static let permissionDenied: Int32 = 4
    static let storageFailure: Int32 = 5
    static let tooManyConnections: Int32 = 6
    static let fleetUnavailable: Int32 = 7
    static let invalidToken: Int32 = 10
    static let tokenExpired: Int32 = 11
    static let tokenNotYetValid: Int32 = 12
    static let wrongAudience: Int32 = 13
    static let tokenRevoked: Int32 = 14
    static let insufficientRole: Int32 = 15
    static let invalidCredentials: Int32 = 16
    static let refreshReused: Int32 = 17
    static let invalidRefreshToken: Int32 = 18
    static let tooManyAttempts: Int32 = 19
    static let userExists: Int32 = 20
    static let unknownUser: Int32 = 21

    /// The status for a failure with this wire code.
    static func forCode(_ code: AuthdError.Code) -> Int32 {
        switch code {
        case .badRequest, .unknownOp, .lineTooLong: badRequest
        case .daemonUnreachable: unreachable
        case .permissionDenied: permissionDenied
        case .storageFailure: storageFailure
        case .tooManyConnections: tooManyConnections
        case .fleetUnavailable: fleetUnavailable
        case .invalidToken: invalidToken
        case .tokenExpired: tokenExpired
        case .tokenNotYetValid: tokenNotYetValid
        case .wrongAudience: wrongAudience
        case .tokenRevoked: tokenRevoked
        case .insufficientRole: insufficientRole
        case .refreshReused: refreshReused
        case .invalidRefreshToken: invalidRefreshToken
        case .invalidCredentials: invalidCredentials
        case .tooManyAttempts: tooManyAttempts
        case .userExists: userExists
        case .unknownUser: unknownUser
        default: failure
        }
    }
}
