import AuthdProtocol

/// The code of the error `body` threw, or nil if it succeeded.
func errorCode(_ body: () async throws(AuthdError) -> some Any) async -> AuthdError.Code? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error.code
    }
}
