import AuthdClient
import AuthdCore
import AuthdProtocol
import Foundation
import Testing

extension FleetTests {
    @Test("forged key ids cannot make a node hammer the database: one read of the keys per 3 s at most, and every forged token refused")
    func forgedKeyIDs() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(postgres: postgres, names: ["node-a"])
        let client = fleet[0].client()
        var sent = 0
        var refused = 0
        let started = ContinuousClock.now
        // As many forged kids as the node answers in 4 s; the bound below is computed from the
        // time that really passed, so a slow machine only sends fewer.
        while ContinuousClock.now - started < .seconds(4) {
            let header = Base64URL.encode(Array(#"{"alg":"EdDSA","typ":"at+jwt","kid":"forged-\#(sent)"}"#.utf8))
            sent += 1
            let code = await Self.code { () async throws(AuthdError) in try await client.verify(token: header + ".eyJzdWIiOiJ4In0.c2ln") }
            if code == .invalidToken { refused += 1 }
        }
        let elapsed = ContinuousClock.now - started
        let reads = fleet[0].log.components(separatedBy: "read the fleet's keys for an unknown key id").count - 1
        #expect(sent > 20)
        #expect(refused == sent)
        #expect(reads >= 1 && reads <= 1 + Int(elapsed / .seconds(3)), "\(reads) reads for \(sent) forged kids in \(elapsed)")
        // Over the HTTP face the same token is not answered on the event loop (its key might be in
        // the database) but by the connection's task, after the throttled read: a 401, not a 5xx.
        let http = HTTPTestClient(connection: try await RawConnection.whenListening(path: fleet[0].directory.path + "/http.sock"))
        let forged = Base64URL.encode(Array(#"{"alg":"EdDSA","typ":"at+jwt","kid":"forged-http"}"#.utf8)) + ".eyJzdWIiOiJ4In0.c2ln"
        let answer = try await http.request("GET", "/auth", headers: [("Authorization", "Bearer \(forged)")])
        #expect(answer.status == 401)
        #expect(answer.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) == true)
        #expect(try await http.request("GET", "/healthz").status == 200)
        // Pipelined, the forged tokens go to the task one at a time while the requests behind them
        // wait: the answers come back in request order.
        let own = try await client.issue(subject: "own", roles: ["user"]).accessToken
        let bearer = { (token: String) in [("Authorization", "Bearer \(token)")] }
        try await http.connection.send(
            HTTPTestClient.format("GET", "/auth", headers: bearer(own)) + HTTPTestClient.format("GET", "/auth", headers: bearer(forged))
                + HTTPTestClient.format("GET", "/auth", headers: bearer(own)) + HTTPTestClient.format("GET", "/auth", headers: bearer(forged + "x"))
                + HTTPTestClient.format("GET", "/healthz") + HTTPTestClient.format("GET", "/auth", headers: bearer(own)))
        var statuses: [Int] = []
        for _ in 0..<6 { statuses.append(try await http.readResponse().status) }
        #expect(statuses == [200, 401, 200, 401, 200, 200])
        await fleet.stop()
    }

    @Test("an outbox larger than one transaction's batch drains completely when the database returns, each revocation once")
    func largeOutbox() async throws {
        let postgres = try await PostgresServer()
        let fleet = try await TestFleet(postgres: postgres, names: ["node-a", "node-b"])
        let b = fleet[1].client()
        let watched = [
            try await b.issue(subject: "first").accessToken, try await b.issue(subject: "middle").accessToken,
            try await b.issue(subject: "last").accessToken,
        ]
        #expect(await eventually { (try? await fleet[0].client().verify(token: watched[0])) != nil })
        try await postgres.stop()
        #expect(await eventually { (try? await fleet[0].client().status().fleet?.connected) == false })

        // 6,000 revocations on A while the database is away (more than FleetPublisher.maximumBatch),
        // pipelined on one connection, three of them of tokens B issued.
        let count = 6000
        let connection = try RawConnection(path: fleet[0].socketPath)
        var batch = ""
        for index in 0..<count {
            switch index {
            case 0: batch += #"{"op":"revoke","token":"\#(watched[0])"}"# + "\n"
            case count / 2: batch += #"{"op":"revoke","token":"\#(watched[1])"}"# + "\n"
            case count - 1: batch += #"{"op":"revoke","token":"\#(watched[2])"}"# + "\n"
            default: batch += #"{"op":"revoke","jti":"outbox-\#(index)"}"# + "\n"
            }
        }
        try await connection.send(batch)
        var kept = 0
        for _ in 0..<count {
            let reply = try ReplyEnvelope.parse(Array(try #require(try await connection.readLine()).utf8))
            if reply.resultObject?["propagated"] == .bool(false) { kept += 1 }
        }
        #expect(kept == count)

        try await postgres.start()
        for token in watched { #expect(await eventually(timeout: .seconds(60)) { await Self.isRevoked(token, on: fleet[1]) }) }
        let rows = try await postgres.psql(
            "SELECT count(*), count(DISTINCT event_id) FROM authd_revocations WHERE node = 'node-a'", database: "authd")
        #expect(rows == "\(count)|\(count)")
        #expect(await eventually { fleet[0].log.contains("published revocations made while the fleet database was unreachable") })
        await fleet.stop()
    }
}
