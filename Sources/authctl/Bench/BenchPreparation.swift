import AuthdProtocol

/// Work done before the clock starts: minting the tokens the run will present, creating the
/// login user. It uses the same raw connections as the run.
struct BenchPreparation {
    let socketPath: String

    /// One request/reply exchange on a fresh connection.
    func exchange(_ line: String) throws(BenchError) -> ArraySlice<UInt8> {
        let connection = try BenchConnection(path: socketPath)
        try connection.send(Array(line.utf8) + [0x0A])
        var reply: ArraySlice<UInt8> = []
        try connection.receiveLines { line in reply = ArraySlice(line) }
        return reply
    }

    /// The daemon's pid, from `status`.
    func daemonPID() -> Int64? {
        guard let reply = try? exchange(#"{"op":"status"}"#),
            case .object(let object)? = try? JSONParser().parse(Array(reply)),
            case .object(let result)? = object["result"], case .int(let pid)? = result["pid"]
        else { return nil }
        return pid
    }

    /// `count` fresh access tokens (or, with `refresh`, refresh tokens), minted over 8 pipelined
    /// connections.
    func issue(_ count: Int, refresh: Bool) throws(BenchError) -> [String] {
        guard count > 0 else { return [] }
        let workers = min(8, count)
        let field = refresh ? "refresh_token" : "access_token"
        let results = UnsafeMutableBufferPointer<Result<[String], BenchError>>.allocate(capacity: workers)
        results.initialize(repeating: .success([]))
        defer { results.deallocate() }
        var threads: [BenchThread] = []
        for worker in 0..<workers {
            let share = count / workers + (worker < count % workers ? 1 : 0)
            let slot = results.baseAddress! + worker
            let path = socketPath
            threads.append(
                BenchThread {
                    slot.pointee = Result { () throws(BenchError) -> [String] in
                        let connection = try BenchConnection(path: path)
                        let line = Array(#"{"op":"issue","sub":"bench-\#(worker)","roles":["user"],"refresh":\#(refresh)}"#.utf8) + [0x0A]
                        var tokens: [String] = []
                        tokens.reserveCapacity(share)
                        while tokens.count < share {
                            let batch = min(256, share - tokens.count)
                            try connection.send(Array([[UInt8]](repeating: line, count: batch).joined()))
                            var received = 0
                            while received < batch {
                                try connection.receiveLines { reply throws(BenchError) in
                                    received += 1
                                    guard let token = BenchReply.string(field, in: reply) else {
                                        throw BenchError("issue failed: \(String(decoding: reply, as: UTF8.self))")
                                    }
                                    tokens.append(token)
                                }
                            }
                        }
                        return tokens
                    }
                })
        }
        for thread in threads { thread.join() }
        var tokens: [String] = []
        for result in results { tokens.append(contentsOf: try result.get()) }
        return tokens
    }

    /// Makes sure `username` exists with `password` (needs the admin grant).
    func ensureUser(_ username: String, password: String) throws(BenchError) {
        let added = try exchange(#"{"op":"user_add","username":"\#(username)","password":"\#(password)","roles":["user"]}"#)
        if BenchReply.isSuccess(added) { return }
        let reset = try exchange(#"{"op":"user_set_password","username":"\#(username)","password":"\#(password)"}"#)
        guard BenchReply.isSuccess(reset) else {
            throw BenchError("cannot create the login user: \(String(decoding: reset, as: UTF8.self))")
        }
    }
}
