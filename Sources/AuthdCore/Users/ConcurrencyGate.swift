import Synchronization

/// An async counting semaphore: at most `limit` holders at once, the rest wait in arrival order.
///
/// Password hashing goes through one, so that a burst of logins costs `limit` hashes' worth of
/// memory, not one per request.
final class ConcurrencyGate: Sendable {
    private struct State {
        var inUse = 0
        var peak = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var firstWaiter = 0
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        precondition(limit >= 1, "a gate needs at least one permit")
        self.limit = limit
    }

    /// Runs `body` once a permit is free, and frees it afterwards.
    func withPermit<Value: Sendable, Failure: Error>(_ body: () async throws(Failure) -> Value) async throws(Failure) -> Value {
        await acquire()
        defer { release() }
        return try await body()
    }

    /// The most holders there have ever been at once.
    var peak: Int { state.withLock { $0.peak } }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state -> Bool in
                guard state.inUse < limit else {
                    state.waiters.append(continuation)
                    return false
                }
                state.inUse += 1
                state.peak = max(state.peak, state.inUse)
                return true
            }
            if admitted { continuation.resume() }
        }
    }

    private func release() {
        // The permit passes straight to the longest waiter, so `inUse` stays the same.
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.firstWaiter < state.waiters.count else {
                state.inUse -= 1
                return nil
            }
            let waiter = state.waiters[state.firstWaiter]
            state.firstWaiter += 1
            if state.firstWaiter > 64, state.firstWaiter * 2 > state.waiters.count {
                state.waiters.removeFirst(state.firstWaiter)
                state.firstWaiter = 0
            }
            return waiter
        }
        next?.resume()
    }
}
