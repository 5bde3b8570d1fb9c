/// What one connection measured.
struct BenchSample {
    var latenciesNanoseconds: [UInt64] = []
    var errors = 0
    var failure: String?
}

/// Drives authd over `connections` connections, each keeping `depth` requests in flight, until
/// `duration` has passed (or a `verify-cold` run has used up its tokens).
///
/// Each connection has its own thread and runs a closed loop: it sends `depth` requests, and every
/// time replies arrive it sends as many new ones in one write. A request's latency runs from the
/// moment its line was handed to the kernel to the moment its reply line was read.
struct BenchRunner {
    let socketPath: String
    let op: BenchOp
    let connections: Int
    let depth: Int
    let durationNanoseconds: UInt64
    let inputs: BenchInputs

    func run() throws(BenchError) -> (samples: [BenchSample], elapsedNanoseconds: UInt64) {
        var sockets: [BenchConnection] = []
        for _ in 0..<connections { sockets.append(try BenchConnection(path: socketPath)) }
        let results = UnsafeMutableBufferPointer<BenchSample>.allocate(capacity: connections)
        results.initialize(repeating: BenchSample())
        defer { results.deallocate() }
        let start = monotonicNow()
        let deadline = start + durationNanoseconds
        var threads: [BenchThread] = []
        for index in 0..<connections {
            let connection = sockets[index]
            var stream = BenchStream(op: op, inputs: inputs, connection: index, connections: connections, depth: depth)
            let depth = self.depth
            let slot = results.baseAddress! + index
            threads.append(
                BenchThread {
                    slot.pointee = Self.drive(connection, stream: &stream, depth: depth, deadline: deadline)
                })
        }
        for thread in threads { thread.join() }
        let elapsed = monotonicNow() - start
        return (Array(results), elapsed)
    }

    private static func drive(_ connection: BenchConnection, stream: inout BenchStream, depth: Int, deadline: UInt64) -> BenchSample {
        var sample = BenchSample()
        sample.latenciesNanoseconds.reserveCapacity(1 << 16)
        // Send times of the requests in flight, oldest first (a ring, to avoid shifting).
        var sentAt = [UInt64](repeating: 0, count: depth)
        var oldest = 0
        var inFlight = 0
        do throws(BenchError) {
            var batch: [UInt8] = []
            func fill(upTo count: Int) throws(BenchError) {
                batch.removeAll(keepingCapacity: true)
                var added = 0
                while added < count, !stream.isExhausted {
                    batch.append(contentsOf: stream.next())
                    added += 1
                }
                guard added > 0 else { return }
                let now = monotonicNow()
                for _ in 0..<added {
                    sentAt[(oldest + inFlight) % depth] = now
                    inFlight += 1
                }
                try connection.send(batch)
            }
            try fill(upTo: depth)
            while inFlight > 0 {
                var answered = 0
                try connection.receiveLines { line throws(BenchError) in
                    let now = monotonicNow()
                    sample.latenciesNanoseconds.append(now - sentAt[oldest])
                    oldest = (oldest + 1) % depth
                    inFlight -= 1
                    answered += 1
                    if !stream.absorb(line) { sample.errors += 1 }
                }
                if monotonicNow() < deadline { try fill(upTo: answered) }
            }
        } catch {
            sample.failure = error.description
        }
        return sample
    }
}
