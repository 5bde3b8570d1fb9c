import AuthdCore
import Logging

/// Publishes this node's revocations to the shared database, in groups: while one transaction
/// commits, the revocations that arrive wait and go together in the next, so the rate of
/// revocations is not bounded by the rate of commits.
actor FleetPublisher {
    private struct Waiting {
        var revocations: [PendingRevocation]
        var continuation: CheckedContinuation<Bool, Never>
    }

    /// Revocations per transaction at most.
    static let maximumBatch = 4096

    private let database: FleetDatabase
    private let logger: Logger
    private var waiting: [Waiting] = []
    private var publishing = false

    init(database: FleetDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Publishes `revocations`; returns whether they are committed in the shared database.
    func publish(_ revocations: [PendingRevocation]) async -> Bool {
        await withCheckedContinuation { continuation in
            waiting.append(Waiting(revocations: revocations, continuation: continuation))
            if !publishing {
                publishing = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !waiting.isEmpty {
            var batch: [Waiting] = []
            var count = 0
            while let next = waiting.first, batch.isEmpty || count + next.revocations.count <= Self.maximumBatch {
                batch.append(waiting.removeFirst())
                count += next.revocations.count
            }
            let committed: Bool
            do {
                try await database.publish(batch.flatMap(\.revocations))
                committed = true
            } catch {
                if error.code != .disconnected {
                    logger.error("cannot publish revocations to the fleet", metadata: ["authd.reason": "\(error.message)"])
                }
                committed = false
            }
            for entry in batch { entry.continuation.resume(returning: committed) }
        }
        publishing = false
    }
}
