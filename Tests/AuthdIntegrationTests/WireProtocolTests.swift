import AuthdClient
import AuthdProtocol
import Foundation
import Testing

@Suite("The wire protocol on a raw socket")
struct WireProtocolTests {
    @Test("pipelined requests are answered in order, ids echoed")
    func pipelining() async throws {
        let daemon = try await InProcessDaemon()
        let connection = try RawConnection(path: daemon.socketPath)
        var batch = ""
        for index in 0..<300 {
            switch index % 3 {
            case 0: batch += #"{"id":\#(index),"op":"ping"}"# + "\n"
            case 1: batch += #"{"id":"s\#(index)","op":"issue","sub":"u\#(index)"}"# + "\n"
            default: batch += #"{"id":\#(index),"op":"verify","token":"bad"}"# + "\n"
            }
        }
        try await connection.send(batch)
        for index in 0..<300 {
            let line = try await #require(try connection.readLine())
            let reply = try ReplyEnvelope.parse(Array(line.utf8))
            switch index % 3 {
            case 0:
                #expect(reply.id == .int(Int64(index)))
                #expect(reply.resultObject == [:])
            case 1:
                #expect(reply.id == .string("s\(index)"))
                #expect(reply.resultObject?["access_token"] != nil)
            default:
                #expect(reply.id == .int(Int64(index)))
                #expect(reply.errorCode == .invalidToken)
            }
        }
        #expect(await daemon.stop() == 0)
    }

    @Test("pipelined revocations run together, each answered in order, and take effect before what follows them")
    func pipelinedRevocations() async throws {
        let daemon = try await InProcessDaemon()
        let connection = try RawConnection(path: daemon.socketPath)
        var tokens: [String] = []
        for index in 0..<40 {
            try await connection.send(#"{"op":"issue","sub":"p\#(index)"}"# + "\n")
            let reply = try ReplyEnvelope.parse(Array(try #require(try await connection.readLine()).utf8))
            tokens.append(try #require(reply.resultObject?["access_token"]?.stringValue))
        }
        // One write: forty revocations with a malformed one among them, then a verify of each token.
        var batch = ""
        for (index, token) in tokens.enumerated() {
            batch += #"{"id":"r\#(index)","op":"revoke","token":"\#(token)"}"# + "\n"
            if index == 20 { batch += #"{"id":"bad","op":"revoke","jti":""}"# + "\n" }
        }
        for (index, token) in tokens.enumerated() { batch += #"{"id":"v\#(index)","op":"verify","token":"\#(token)"}"# + "\n" }
        try await connection.send(batch)
        for index in 0..<tokens.count {
            let reply = try ReplyEnvelope.parse(Array(try #require(try await connection.readLine()).utf8))
            #expect(reply.id == .string("r\(index)"))
            #expect(reply.resultObject?["revoked"] == .int(1))
            if index == 20 {
                let bad = try ReplyEnvelope.parse(Array(try #require(try await connection.readLine()).utf8))
                #expect(bad.id == .string("bad"))
                #expect(bad.errorCode == .badRequest)
            }
        }
        for index in 0..<tokens.count {
            let reply = try ReplyEnvelope.parse(Array(try #require(try await connection.readLine()).utf8))
            #expect(reply.id == .string("v\(index)"))
            #expect(reply.errorCode == .tokenRevoked)
        }
        #expect(await daemon.stop() == 0)
    }

    @Test("answered on the event loop (cache hits, ping) or by the connection's task, replies keep request order; a verify after a revoke sees it")
    func inlineRepliesKeepOrder() async throws {
        let daemon = try await InProcessDaemon()
        let connection = try RawConnection(path: daemon.socketPath)
        func reply() async throws -> ReplyEnvelope { try ReplyEnvelope.parse(Array(try #require(try await connection.readLine()).utf8)) }
        var tokens: [String] = []
        for subject in ["a", "b"] {
            try await connection.send(#"{"op":"issue","sub":"\#(subject)"}"# + "\n")
            tokens.append(try #require(try await reply().resultObject?["access_token"]?.stringValue))
        }
        // Verified once each: from now on the cache answers them, on the event loop.
        for token in tokens {
            try await connection.send(#"{"op":"verify","token":"\#(token)"}"# + "\n")
            #expect(try await reply().resultObject?["sub"] != nil)
        }
        let (a, b) = (tokens[0], tokens[1])
        // One write: two answered inline, then a revoke for the task; everything after it waits
        // for the task, so the verify of the revoked token sees the revocation.
        try await connection.send(
            #"{"id":1,"op":"verify","token":"\#(a)"}"# + "\n" + #"{"id":2,"op":"ping"}"# + "\n"
                + #"{"id":3,"op":"revoke","token":"\#(a)"}"# + "\n" + #"{"id":4,"op":"verify","token":"\#(a)"}"# + "\n"
                + #"{"id":5,"op":"verify","token":"\#(b)"}"# + "\n" + #"{"id":6,"op":"ping"}"# + "\n")
        var replies: [ReplyEnvelope] = []
        for _ in 0..<6 { replies.append(try await reply()) }
        #expect(replies.map(\.id) == (1...6).map { .int(Int64($0)) })
        #expect(replies[0].resultObject?["sub"] == "a")
        #expect(replies[1].resultObject == [:])
        #expect(replies[2].resultObject?["revoked"] == .int(1))
        #expect(replies[3].errorCode == .tokenRevoked)
        #expect(replies[4].resultObject?["sub"] == "b")
        #expect(replies[5].resultObject == [:])
        // Nothing owed to the task any more: answered inline again, and a revoked token, though
        // cached, is refused (by the full path, which says why).
        try await connection.send(#"{"id":7,"op":"verify","token":"\#(b)"}"# + "\n" + #"{"id":8,"op":"verify","token":"\#(a)"}"# + "\n")
        let seven = try await reply(), eight = try await reply()
        #expect(seven.id == .int(7) && seven.resultObject?["sub"] == "b")
        #expect(eight.id == .int(8) && eight.errorCode == .tokenRevoked)
        // Counted like any other verification: 5 good, 2 refused.
        let status = try await daemon.client().status()
        #expect(status.verified == 5)
        #expect(status.rejected == 2)
        #expect(await daemon.stop() == 0)
    }

    @Test("a line over the limit gets line_too_long and closes only its own connection")
    func lineTooLong() async throws {
        let daemon = try await InProcessDaemon()
        let bystander = try RawConnection(path: daemon.socketPath)
        await #expect(try bystander.request(#"{"op":"ping"}"#).errorCode == nil)
        let offender = try RawConnection(path: daemon.socketPath)
        try await offender.send(#"{"op":"verify","token":""# + String(repeating: "a", count: 70_000) + "\"}\n")
        let line = try await #require(try offender.readLine())
        #expect(try ReplyEnvelope.parse(Array(line.utf8)).errorCode == .lineTooLong)
        await #expect(try offender.readLine() == nil)  // closed by the daemon
        await #expect(try bystander.request(#"{"op":"ping"}"#).errorCode == nil)
        await #expect(try RawConnection(path: daemon.socketPath).request(#"{"op":"ping"}"#).errorCode == nil)
        #expect(await daemon.stop() == 0)
    }

    @Test("the line limit is configurable, and a line just under it is served")
    func configurableLimit() async throws {
        let daemon = try await InProcessDaemon(config: "[server]\nmax_line_bytes = 2048\n")
        let connection = try RawConnection(path: daemon.socketPath)
        let padding = String(repeating: "x", count: 2048 - #"{"op":"ping","id":""}"#.utf8.count)
        await #expect(try connection.request(#"{"op":"ping","id":"\#(padding)"}"#).errorCode == nil)
        await #expect(try connection.request(#"{"op":"ping","id":"\#(padding)x"}"#).errorCode == .lineTooLong)
        #expect(await daemon.stop() == 0)
    }

    @Test("garbage gets bad_request and the connection keeps serving; a new connection is unaffected")
    func garbage() async throws {
        let daemon = try await InProcessDaemon()
        let connection = try RawConnection(path: daemon.socketPath)
        for garbage in ["garbage", "{", "[]", "{\"op\":1}", "{\"id\":[],\"op\":\"ping\"}", "\u{1}\u{2}", "{\"op\":\"ping\",\"x\":1}"] {
            await #expect(try connection.request(garbage).errorCode == .badRequest, "\(garbage)")
        }
        try await connection.send([0xFF, 0xFE, 0x0A])
        await #expect(try ReplyEnvelope.parse(Array(try #require(try connection.readLine()).utf8)).errorCode == .badRequest)
        await #expect(try connection.request(#"{"op":"frobnicate"}"#).errorCode == .unknownOp)
        await #expect(try connection.request(#"{"id":9,"op":"ping"}"#).id == .int(9))
        await #expect(try RawConnection(path: daemon.socketPath).request(#"{"op":"ping"}"#).errorCode == nil)
        #expect(await daemon.stop() == 0)
    }

    @Test("a client that half-closes after its requests still gets every reply")
    func halfClose() async throws {
        let daemon = try await InProcessDaemon()
        let connection = try RawConnection(path: daemon.socketPath)
        try await connection.send(String(repeating: #"{"op":"ping"}"# + "\n", count: 50) + #"{"op":"ping","id":"last"}"#)
        connection.shutdownWrite()
        var replies: [String] = []
        while let line = try await connection.readLine() { replies.append(line) }
        #expect(replies.count == 51)
        #expect(replies.last?.contains("\"last\"") == true)
        #expect(await daemon.stop() == 0)
    }

    @Test("clients that pipeline requests and close without reading the replies never bring the daemon down")
    func abruptCloses() async throws {
        // Its own process: a crash must fail this test, not end the test run.
        let daemon = try await DaemonProcess()
        let issued = try await authctl(["--socket", daemon.socketPath, "issue", "hot", "--ttl", "1h"])
        let verify = #"{"op":"verify","token":"\#(issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines))"}"#
        // Hot verifies are answered on the event loop; a status now and then goes to the
        // connection's task, and the replies answered so far are written before it. With the client
        // gone those writes fail, and NIO closes the connection while its reads are being handled.
        var payload: [UInt8] = []
        for index in 0..<2_000 {
            payload += Array((verify + "\n").utf8)
            if index % 7 == 0 { payload += Array(#"{"op":"status"}"#.utf8) + [0x0A] }
        }
        for round in 0..<200 {
            let connection = try RawConnection(path: daemon.socketPath)
            // authd stops reading a client that does not read its replies (backpressure), so a
            // send may block for good: it gives up after a second, and the close goes ahead.
            var patience = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(connection.descriptor, SOL_SOCKET, SO_SNDTIMEO, &patience, socklen_t(MemoryLayout<timeval>.size))
            try? await connection.send(Array(payload.prefix(payload.count * (round % 10 + 1) / 10)))
            connection.disconnect()
        }
        #expect(daemon.process.isRunning, "authd died; its log: \(daemon.log.suffix(2_000))")
        await #expect(try RawConnection(path: daemon.socketPath).request(#"{"op":"ping"}"#).errorCode == nil)
        #expect(await daemon.stop() == 0)
    }

    @Test("SIGTERM: open connections are closed, the socket removed, exit status 0")
    func gracefulShutdown() async throws {
        let daemon = try await InProcessDaemon()
        let idle = try RawConnection(path: daemon.socketPath)
        await #expect(try idle.request(#"{"op":"ping"}"#).errorCode == nil)
        let busy = try RawConnection(path: daemon.socketPath)
        try await busy.send(String(repeating: #"{"op":"issue","sub":"x"}"# + "\n", count: 100))
        _ = try await busy.readLine()
        #expect(await daemon.stop() == 0)
        // Every reply the daemon wrote is a whole line; then the stream ends.
        while let line = try await busy.readLine() { #expect(try ReplyEnvelope.parse(Array(line.utf8)).errorCode == nil) }
        await #expect(try idle.readLine() == nil)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
    }

    @Test("a stale socket file is replaced; a live one is never taken over")
    func staleSocket() async throws {
        let directory = TemporaryDirectory()
        let first = try await DaemonProcess(directory: directory)
        // A second daemon on the same live socket must refuse (exit 78) and leave the first serving.
        let second = try await runCommand(
            Binaries.authd, ["--socket", first.socketPath, "--state-dir", directory.path + "/state2", "--config", first.configPath])
        #expect(second.status == 78)
        #expect(second.stderr.contains("already listening"))
        await #expect(try RawConnection(path: first.socketPath).request(#"{"op":"ping"}"#).errorCode == nil)
        // A crash leaves a stale socket file behind; the next start replaces it.
        kill(first.process.processIdentifier, SIGKILL)
        _ = await first.waitForExit()
        #expect(FileManager.default.fileExists(atPath: first.socketPath))
        let third = try await DaemonProcess(directory: directory)
        #expect(await third.stop() == 0)
    }

    @Test("refuses to start on an invalid configuration, naming the key, with status 78")
    func invalidConfig() async throws {
        let directory = TemporaryDirectory()
        try "[tokens]\nttl = \"forever\"\n".write(toFile: directory.path + "/bad.toml", atomically: true, encoding: .utf8)
        let result = try await runCommand(
            Binaries.authd, ["--socket", directory.path + "/s", "--state-dir", directory.path + "/st", "--config", directory.path + "/bad.toml"])
        #expect(result.status == 78)
        #expect(result.stderr.contains("tokens.ttl"))
    }
}
