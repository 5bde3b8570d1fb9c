import ServiceLifecycle

/// Sleeps for `duration`, or less if a graceful shutdown begins.
///
/// - Returns: `false` when the service should stop (shutdown began or the task was cancelled).
func sleepUnlessShuttingDown(for duration: Duration) async -> Bool {
    do {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    } catch {
        return false
    }
    return !Task.isShuttingDownGracefully
}
