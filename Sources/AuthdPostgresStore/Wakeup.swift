/// A signal that coalesces: any number of ``signal()`` calls while nobody waits wake the next
/// wait once. For "there is something to do", never for counting.
final class Wakeup: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Wakes the waiter (now, or at its next wait).
    func signal() { continuation.yield() }

    /// The wake-ups, for one consumer.
    var wakeups: AsyncStream<Void> { stream }
}
