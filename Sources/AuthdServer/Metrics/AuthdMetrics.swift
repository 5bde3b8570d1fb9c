import AuthdCore
import AuthdProtocol
import CoreMetrics
import Prometheus
import Synchronization

/// The daemon's metrics: recorded through swift-metrics (`Counter`, `Timer`), collected in a
/// swift-prometheus registry of the daemon's own (never the process-wide `MetricsSystem`, so that
/// two daemons in one process, as in the tests, keep apart), rendered as Prometheus text for
/// `GET /metrics`. Every family carries a `# HELP` line (`promtool check metrics` insists).
///
/// Recorded as requests are answered: requests by op and result code, latency histograms of
/// verify, issue, login, refresh and revoke, HTTP responses by path and status. Read when scraped:
/// open connections, denylist size, the active key's age, the verified-token cache's hits and
/// misses, and a fleet node's connection and staleness.
final class AuthdMetrics: Sendable {
    /// The ops whose latency is recorded.
    static let timedOps: Set<String> = ["verify", "issue", "login", "refresh", "revoke"]
    static let durationBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
    ]

    // Computed: swift-prometheus's descriptor type is not Sendable.
    private static var requests: MetricNameDescriptor {
        descriptor("requests", "total", "Requests answered, by op and result code (ok or the error code)")
    }
    private static var durations: MetricNameDescriptor {
        descriptor("request_duration", "seconds", "Time from a request's arrival to its answer, by op")
    }
    private static var httpResponses: MetricNameDescriptor { descriptor("http_responses", "total", "HTTP responses, by path and status") }

    private struct OpMetrics: Sendable {
        let succeeded: CoreMetrics.Counter
        let latency: CoreMetrics.Timer?
    }

    private let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    /// One entry per op, made up front: recording a success only reads this dictionary.
    private let ops: [String: OpMetrics]
    /// A counter of a family by its two dimensions' values (a family's dimension names are
    /// fixed): hashed as they are, not joined into a new string for every request counted.
    private struct CounterKey: Hashable {
        let family: CountedFamily
        let first: String
        let second: String
    }

    /// The families whose counters are made on first use; their descriptors are only made then.
    private enum CountedFamily: Hashable {
        case requests
        case httpResponses

        var descriptor: MetricNameDescriptor {
            switch self {
            case .requests: AuthdMetrics.requests
            case .httpResponses: AuthdMetrics.httpResponses
            }
        }
    }

    /// Counters of failures and of HTTP responses, made on first use.
    private let counters = Mutex<[CounterKey: CoreMetrics.Counter]>([:])
    private let connections: Prometheus.Gauge
    private let httpConnections: Prometheus.Gauge
    private let revokedTokens: Prometheus.Gauge
    private let revokedSubjects: Prometheus.Gauge
    private let activeKeyAge: Prometheus.Gauge
    private let cacheHits: Prometheus.Counter
    private let cacheMisses: Prometheus.Counter
    private let lastCacheStatistics = Mutex<(hits: Int64, misses: Int64)>((0, 0))
    private let fleetConnected: Prometheus.Gauge?
    private let fleetStaleness: Prometheus.Gauge?

    /// Metrics for a daemon serving `ops`; `fleet` adds a fleet node's gauges.
    init(ops: some Sequence<String>, fleet: Bool) {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        self.registry = registry
        self.factory = factory
        var table: [String: OpMetrics] = [:]
        for op in ops {
            let succeeded = [("op", op), ("code", "ok")]
            var latency: CoreMetrics.Timer?
            if Self.timedOps.contains(op) {
                let histogram = registry.makeDurationHistogram(descriptor: Self.durations, labels: [("op", op)], buckets: Self.durationBuckets)
                latency = CoreMetrics.Timer(label: Self.durations.name, dimensions: [("op", op)], handler: histogram, factory: factory)
            }
            table[op] = OpMetrics(
                succeeded: CoreMetrics.Counter(
                    label: Self.requests.name, dimensions: succeeded,
                    handler: registry.makeCounter(descriptor: Self.requests, labels: succeeded), factory: factory),
                latency: latency)
        }
        self.ops = table
        func gauge(_ name: String, _ unit: String, _ help: String) -> Prometheus.Gauge {
            registry.makeGauge(descriptor: Self.descriptor(name, unit, help))
        }
        connections = gauge("connections", "", "Open connections on the line protocol's socket")
        httpConnections = gauge("http_connections", "", "Open connections on the HTTP face")
        revokedTokens = gauge("denylist_tokens", "", "Revoked token ids held in memory")
        revokedSubjects = gauge("denylist_subjects", "", "Revoked subjects held in memory")
        activeKeyAge = gauge("active_key_age", "seconds", "Age of the key that signs new tokens")
        cacheHits = registry.makeCounter(
            descriptor: Self.descriptor("verify_cache_hits", "total", "Verifications answered from the verified-token cache"))
        cacheMisses = registry.makeCounter(
            descriptor: Self.descriptor("verify_cache_misses", "total", "Verifications that checked a signature"))
        fleetConnected = fleet ? gauge("fleet_connected", "", "1 while the node reaches the fleet's database, else 0") : nil
        fleetStaleness = fleet ? gauge("fleet_staleness", "seconds", "Time since the node last caught up with the fleet") : nil
    }

    private static func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "authd", metricName: name, unitName: unit, helpText: help)
    }

    /// Records one answered request of `op` (`code` nil for success) that took `duration`.
    func record(op: String, code: AuthdError.Code?, duration: Duration) {
        guard let metrics = ops[op] else { return }
        let (seconds, attoseconds) = duration.components
        metrics.latency?.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        if let code {
            counter(.requests, ("op", op), ("code", code.rawValue)).increment()
        } else {
            metrics.succeeded.increment()
        }
    }

    /// Records one HTTP response.
    func recordHTTP(path: String, status: UInt) {
        counter(.httpResponses, ("path", path), ("status", String(status))).increment()
    }

    private func counter(_ family: CountedFamily, _ first: (String, String), _ second: (String, String)) -> CoreMetrics.Counter {
        let key = CounterKey(family: family, first: first.1, second: second.1)
        return counters.withLock { counters in
            if let existing = counters[key] { return existing }
            let dimensions = [first, second]
            let descriptor = family.descriptor
            let made = CoreMetrics.Counter(
                label: descriptor.name, dimensions: dimensions, handler: registry.makeCounter(descriptor: descriptor, labels: dimensions),
                factory: factory)
            counters[key] = made
            return made
        }
    }

    /// The Prometheus text exposition, with the values read when scraped brought up to date.
    func render(tokens: TokenService, counters: AuthdCounters, httpConnections open: Int, fleet: FleetHealth?) -> [UInt8] {
        connections.set(Double(counters.connections))
        httpConnections.set(Double(open))
        let denied = tokens.denylist.count
        revokedTokens.set(Double(denied.tokens))
        revokedSubjects.set(Double(denied.subjects))
        activeKeyAge.set(Double(max(0, tokens.now - tokens.activeKeyCreatedAt)))
        // The cache counts from zero again when a reload replaces it: a drop is a new start.
        let current = tokens.verifier.cacheStatistics
        let (hits, misses) = lastCacheStatistics.withLock { last -> (Int64, Int64) in
            defer { last = current }
            return (
                current.hits >= last.hits ? current.hits - last.hits : current.hits,
                current.misses >= last.misses ? current.misses - last.misses : current.misses
            )
        }
        cacheHits.increment(by: hits)
        cacheMisses.increment(by: misses)
        if let fleet, let fleetConnected, let fleetStaleness {
            let health = fleet.snapshot
            fleetConnected.set(health.connected ? 1.0 : 0.0)
            fleetStaleness.set(Double(health.staleness))
        }
        return registry.emitToBuffer()
    }
}
