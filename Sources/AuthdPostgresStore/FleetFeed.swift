public import AuthdCore
public import Logging
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// Keeps a fleet node's denylist in step with the fleet, and publishes what the node revoked while
/// the database was unreachable.
///
/// It holds one connection of its own that LISTENs on the feed's channel. A notification is only a
/// hint: on each one, on every reconnection and on a periodic poll, it reads every event after the
/// last one applied (`seq > applied`, in order), applies them in memory, then records them and the
/// new position in the local cache. A node that missed notifications (its connection dropped, it
/// restarted) therefore catches up from where it was; nothing depends on a notification arriving.
public final class FleetFeed: Service, Sendable {
    private let store: FleetStore
    private let denylist: Denylist
    private let logger: Logger
    private let pollInterval: Duration
    private let outboxInterval: Duration
    /// Events read per query while catching up.
    static let pageSize = 5000
    /// The least time from one catch-up to the next. Notifications that arrive meanwhile are
    /// served by one read: under a high rate of revocations, each catch-up then applies many
    /// events instead of every node paying a read, a local commit and their thread hops per
    /// transaction of every other node. A revocation after a quiet spell is read at once.
    static let catchUpSpacing: Duration = .milliseconds(5)

    /// A feed for `store`'s node, applying to `denylist`.
    public init(
        store: FleetStore, denylist: Denylist, pollInterval: Duration = .seconds(1), outboxInterval: Duration = .seconds(5),
        logger: Logger
    ) {
        self.store = store
        self.denylist = denylist
        self.pollInterval = pollInterval
        self.outboxInterval = outboxInterval
        self.logger = logger
    }

    private var database: FleetDatabase { store.database }
    private var health: FleetHealth { store.database.health }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.followFeed() }
                group.addTask { await self.drainOutbox() }
                group.addTask { await self.watchHealth() }
                group.addTask { await self.pollBackstop() }
            }
            self.logger.debug("feed: stopped")
        }
    }

    // MARK: Following the feed

    private struct ListenerEnded: Error {}
    private struct TimedOut: Error {}

    private func followFeed() async {
        var delay = Duration.milliseconds(100)
        var failures = 0
        while !Task.isCancelled {
            // Each connection is followed in a task of its own that this one can stop waiting
            // for: postgres-nio was seen (under load, a connection killed while it started to
            // LISTEN) to leave a call waiting forever, and that must not keep the daemon from
            // shutting down. Such a task is abandoned; its connection is closed.
            let outcome = OneShot<Result<Bool, any Error>>()
            let attempt = Task {
                let reached = Shared(false)
                do {
                    try await self.followOnce { reached.value.withLock { $0 = true } }
                    outcome.fulfil(.success(reached.value.withLock { $0 }))
                } catch {
                    outcome.fulfil(reached.value.withLock { $0 } ? .success(true) : .failure(error))
                }
            }
            let result = await withTaskCancellationHandler {
                await outcome.wait()
            } onCancel: {
                attempt.cancel()
                outcome.abandon()
            }
            guard let result, !Task.isCancelled else { return }
            switch result {
            case .success:
                // It had caught up before the connection ended: start again quickly.
                delay = .milliseconds(100)
                failures = 0
                health.disconnected()
            case .failure(let error):
                health.disconnected()
                failures += 1
                // The first failure of a run is worth a line; its repetitions every few seconds are not.
                if failures == 1 {
                    logger.warning(
                        "the fleet database's feed connection failed; retrying",
                        metadata: ["authd.reason": "\(error is TimedOut ? "no answer in time" : PostgresFailure.describe(error))"])
                }
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(2))
        }
    }

    /// Connects, migrates the schema if needed, listens, catches up, then follows until the
    /// connection fails (or the service stops).
    private func followOnce(connected: @Sendable () -> Void) async throws {
        logger.debug("feed: connecting")
        let connection = try await PostgresConnection.connect(configuration: database.listenerConfiguration, id: 1, logger: logger)
        logger.debug("feed: connected")
        // Migrating and starting to LISTEN wait for the server; if the connection dies in between
        // (pg_terminate_backend at that moment, seen under load), postgres-nio may never answer
        // them. Past the operation timeout the connection is closed, which fails them.
        let caughtUp = Shared(false)
        let (timeout, logger) = (database.operationTimeout, self.logger)
        let watchdog = Task {
            do { try await Task.sleep(for: timeout * 2) } catch { return }
            guard !caughtUp.value.withLock({ $0 }) else { return }
            logger.warning("the fleet database's feed connection did not start in time; reconnecting")
            await Self.close(connection)
        }
        defer { watchdog.cancel() }
        do {
            try await PostgresSchema.migrate(connection, logger: logger)
            try await connection.listen(on: FleetDatabase.channel) { notifications in
                try await catchUp(connection)
                caughtUp.value.withLock { $0 = true }
                // Keys may have been published while this node was not listening.
                database.keysChanged.store(true, ordering: .relaxed)
                connected()
                store.outboxSignal.signal()
                throw await follow(connection, notifications: notifications)
            }
        } catch {
            await Self.close(connection)
            throw error
        }
    }

    /// Catches up on every notification and poll tick until something fails; returns why.
    private func follow(_ connection: PostgresConnection, notifications: PostgresNotificationSequence) async -> any Error {
        let wake = Wakeup()
        // The notifications are read in a task of their own, which this one does not wait for:
        // postgres-nio's sequence ends when its connection closes, but a connection killed at the
        // wrong moment was seen (under load) to leave it waiting forever, and a task group would
        // then never finish. Its end is signalled instead; if it never ends, it is abandoned.
        let listenerEnded = Wakeup()
        let listenerError = Shared<(any Error)?>(nil)
        let keysChanged = { self.database.keysChanged.store(true, ordering: .relaxed) }
        let listener = Task {
            do {
                for try await notification in notifications {
                    if notification.payload == "keys" { keysChanged() } else { wake.signal() }
                }
                listenerError.value.withLock { $0 = ListenerEnded() }
            } catch {
                listenerError.value.withLock { $0 = error }
            }
            listenerEnded.signal()
        }
        defer { listener.cancel() }
        return await withTaskGroup(of: (any Error)?.self) { group in
            group.addTask {
                for await _ in listenerEnded.wakeups { return listenerError.value.withLock { $0 ?? ListenerEnded() } }
                return CancellationError()
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.pollInterval)
                    wake.signal()
                }
                return CancellationError()
            }
            group.addTask {
                do {
                    for await _ in wake.wakeups {
                        try await self.catchUp(connection)
                        try? await Task.sleep(for: Self.catchUpSpacing)
                    }
                    return CancellationError()
                } catch {
                    return error
                }
            }
            let reason = await group.next() ?? nil
            logger.debug("feed: following ended", metadata: ["authd.reason": "\(reason.map { "\($0)" } ?? "-")"])
            // Closing the connection ends the notification sequence (and fails a pending catch-up).
            await Self.close(connection)
            group.cancelAll()
            logger.debug("feed: connection closed")
            return reason ?? ListenerEnded()
        }
    }

    /// Closes `connection`, giving up after a second (it may be dead already).
    private static func close(_ connection: PostgresConnection) async {
        _ = await Deadline.race(.seconds(1)) { try await connection.close() }
    }

    /// Reads and applies every event after the last one applied.
    private func catchUp(_ connection: PostgresConnection) async throws {
        while true {
            let applied = health.snapshot.appliedSequence
            let logger = self.logger
            guard
                let outcome = await Deadline.race(
                    database.operationTimeout,
                    { try await FleetDatabase.events(after: applied, limit: Self.pageSize, on: connection, logger: logger) })
            else { throw TimedOut() }
            let events = try outcome.get()
            if let last = events.last {
                let records = events.map(\.record)
                // Enforced first, then kept: a crash in between re-reads them from the same position.
                denylist.apply(records)
                try await store.local.applyFeed(records, through: last.sequence)
            }
            health.caughtUp(through: events.last?.sequence ?? applied)
            if events.count < Self.pageSize { return }
        }
    }

    /// Catches up through the pool every few poll intervals, whatever the listening connection
    /// is doing: a backstop that does not share that connection's fate (under load, a connection
    /// killed while it starts to LISTEN was seen to leave the listener waiting). A failed probe
    /// marks the node disconnected unless the listening side has caught up in the last few
    /// seconds (a pool that is only slow must not turn a healthy node's ops away), so that
    /// `connected` follows the database even while the listening side is stuck (it was once
    /// seen to say connected 30 s into an outage).
    private func pollBackstop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: pollInterval * 2)
            if Task.isCancelled { return }
            do {
                try await database.probe("catch up with the fleet") { connection, _ in try await self.catchUp(connection) }
            } catch {
                if Task.isCancelled { return }
                if health.snapshot.staleness > 2 { health.disconnected() }
            }
        }
    }

    // MARK: The outbox

    /// Publishes revocations made while the database was unreachable, when it returns (and every
    /// few seconds, in case a publication failed on a live connection).
    private func drainOutbox() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.outboxInterval)
                    self.store.outboxSignal.signal()
                }
            }
            group.addTask {
                for await _ in self.store.outboxSignal.wakeups {
                    if Task.isCancelled { return }
                    await self.publishOutbox()
                }
            }
        }
    }

    private func publishOutbox() async {
        var published = 0
        while health.isConnected {
            let batch: [PendingRevocation]
            do {
                batch = try await store.local.unpublished(limit: FleetPublisher.maximumBatch)
            } catch {
                logger.error("cannot read the fleet outbox", metadata: ["authd.reason": "\(error.message)"])
                return
            }
            guard !batch.isEmpty, await store.publisher.publish(batch) else { break }
            do {
                try await store.local.markPublished(batch.map(\.id))
            } catch {
                // Published but still listed: it is published again later, which is harmless.
                logger.error("cannot update the fleet outbox", metadata: ["authd.reason": "\(error.message)"])
                return
            }
            published += batch.count
        }
        if published > 0 {
            logger.notice("published revocations made while the fleet database was unreachable", metadata: ["authd.count": "\(published)"])
        }
    }

    // MARK: Health

    /// Logs when the node loses or regains the database, and when it turns stale or recovers.
    private func watchHealth() async {
        var wasConnected = false
        var wasStale = false
        var everConnected = false
        while !Task.isCancelled {
            let snapshot = health.snapshot
            if snapshot.connected != wasConnected {
                if snapshot.connected {
                    logger.notice(
                        everConnected ? "reconnected to the fleet database" : "connected to the fleet database",
                        metadata: ["authd.node": "\(health.node)", "authd.applied_seq": "\(snapshot.appliedSequence)"])
                    everConnected = true
                } else if everConnected {
                    logger.warning("lost the connection to the fleet database", metadata: ["authd.node": "\(health.node)"])
                }
                wasConnected = snapshot.connected
            }
            if snapshot.isStale != wasStale {
                if snapshot.isStale {
                    logger.warning(
                        "this node's view of the fleet is stale: revocations made on other nodes may be missing",
                        metadata: [
                            "authd.staleness_s": "\(snapshot.staleness)", "authd.max_staleness_s": "\(health.maximumStaleness)",
                            "authd.on_stale": "\(health.onStale.rawValue)",
                        ])
                } else {
                    logger.notice("this node has caught up with the fleet again", metadata: ["authd.applied_seq": "\(snapshot.appliedSequence)"])
                }
                wasStale = snapshot.isStale
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }
}
