import AuthdProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// CPU time and memory of a process, from `/proc`.
struct ProcessUsage {
    var cpuSeconds: Double
    var residentKiB: Int
    var peakResidentKiB: Int

    /// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; `nil` if they cannot be read (another
    /// user's process, or not Linux).
    init?(pid: Int64) {
        guard let stat = Self.read("/proc/\(pid)/stat"), let status = Self.read("/proc/\(pid)/status") else { return nil }
        // The command name in parentheses may contain spaces: count fields after its ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        cpuSeconds = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        func kib(_ name: String) -> Int {
            status.split(separator: "\n").first { $0.hasPrefix(name) }
                .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
        }
        residentKiB = kib("VmRSS:")
        peakResidentKiB = kib("VmHWM:")
    }

    private static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The numbers a benchmark run produced.
struct BenchReport {
    var op: BenchOp
    var connections: Int
    var depth: Int
    var elapsedSeconds: Double
    var operations: Int
    var errors: Int
    var latenciesMicroseconds: (p50: Double, p99: Double, p999: Double, max: Double)
    var pid: Int64?
    var cpuSeconds: Double?
    var residentKiB: Int?
    var peakResidentKiB: Int?
    var failures: [String]

    var operationsPerSecond: Double { Double(operations) / elapsedSeconds }

    init(op: BenchOp, connections: Int, depth: Int, samples: [BenchSample], elapsedNanoseconds: UInt64,
         pid: Int64?, before: ProcessUsage?, after: ProcessUsage?)
    {
        self.op = op
        self.connections = connections
        self.depth = depth
        elapsedSeconds = Double(elapsedNanoseconds) / 1e9
        var all = samples.flatMap(\.latenciesNanoseconds)
        all.sort()
        operations = all.count
        errors = samples.reduce(0) { $0 + $1.errors }
        failures = samples.compactMap(\.failure)
        func percentile(_ fraction: Double) -> Double {
            guard !all.isEmpty else { return 0 }
            let index = min(all.count - 1, Int((Double(all.count) * fraction).rounded(.up)) - 1)
            return Double(all[max(0, index)]) / 1000
        }
        latenciesMicroseconds = (percentile(0.5), percentile(0.99), percentile(0.999), Double(all.last ?? 0) / 1000)
        self.pid = pid
        if let before, let after {
            cpuSeconds = after.cpuSeconds - before.cpuSeconds
            residentKiB = after.residentKiB
            peakResidentKiB = after.peakResidentKiB
        }
    }

    var json: JSONObject {
        var object: JSONObject = [
            "op": .string(op.rawValue), "connections": .int(Int64(connections)), "depth": .int(Int64(depth)),
            "duration_s": .double(elapsedSeconds), "ops": .int(Int64(operations)), "ops_per_s": .double(operationsPerSecond.rounded()),
            "errors": .int(Int64(errors)), "p50_us": .double(latenciesMicroseconds.p50), "p99_us": .double(latenciesMicroseconds.p99),
            "p999_us": .double(latenciesMicroseconds.p999), "max_us": .double(latenciesMicroseconds.max),
        ]
        var daemon: JSONObject = [:]
        if let pid { daemon["pid"] = .int(pid) }
        if let cpuSeconds {
            daemon["cpu_s"] = .double((cpuSeconds * 100).rounded() / 100)
            daemon["cpu_percent"] = .double((cpuSeconds / elapsedSeconds * 100).rounded())
        }
        if let residentKiB { daemon["rss_kib"] = .int(Int64(residentKiB)) }
        if let peakResidentKiB { daemon["peak_rss_kib"] = .int(Int64(peakResidentKiB)) }
        object["authd"] = .object(daemon)
        if !failures.isEmpty { object["connection_failures"] = .strings(failures) }
        return object
    }

    var table: String {
        func micro(_ value: Double) -> String { value >= 1000 ? "\(format(value / 1000, 2)) ms" : "\(format(value, 0)) µs" }
        var lines = [
            "authd bench: \(op.rawValue) — \(op.summary)",
            "  load      \(connections) connection\(connections == 1 ? "" : "s") × depth \(depth), \(format(elapsedSeconds, 2)) s",
            "  ops       \(operations) (\(format(operationsPerSecond, 0))/s), errors \(errors)",
            "  latency   p50 \(micro(latenciesMicroseconds.p50))   p99 \(micro(latenciesMicroseconds.p99))   "
                + "p99.9 \(micro(latenciesMicroseconds.p999))   max \(micro(latenciesMicroseconds.max))",
        ]
        if let cpuSeconds, let residentKiB, let peakResidentKiB {
            lines.append(
                "  authd     CPU \(format(cpuSeconds, 2)) s (\(format(cpuSeconds / elapsedSeconds * 100, 0)) % of one core), "
                    + "RSS \(format(Double(residentKiB) / 1024, 1)) MiB (peak \(format(Double(peakResidentKiB) / 1024, 1)) MiB)")
        } else {
            lines.append("  authd     CPU and memory unknown (its /proc entry is not readable by this user)")
        }
        for failure in Set(failures) { lines.append("  failure   \(failure)") }
        return lines.joined(separator: "\n")
    }
}

/// `value` with `digits` decimals.
func format(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    if digits == 0 { return String(Int64(rounded)) }
    let whole = Int64(rounded.rounded(.towardZero))
    var fraction = String(Int64((abs(rounded - Double(whole)) * scale).rounded()))
    while fraction.count < digits { fraction = "0" + fraction }
    return (rounded < 0 && whole == 0 ? "-" : "") + "\(whole).\(fraction)"
}
