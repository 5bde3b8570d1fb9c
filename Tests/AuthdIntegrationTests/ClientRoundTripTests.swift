import AuthdClient
import AuthdProtocol
import Foundation
import Testing

@Suite("AuthdClient against the real daemon")
struct ClientRoundTripTests {
    @Test("issue, verify with roles and audience, jwks, status, ping")
    func roundTrip() async throws {
        let daemon = try await InProcessDaemon()
        let client = daemon.client()
        let issued = try await client.issue(subject: "alice", roles: ["user"], ttl: 120, claims: ["team": "blue"])
        #expect(issued.tokenType == "Bearer")
        #expect(issued.expiresIn == 120)
        let claims = try await client.verify(token: issued.accessToken, rolesAny: ["user"])
        #expect(claims.subject == "alice")
        #expect(claims.roles == ["user"])
        #expect(claims.claims == ["team": "blue"])
        #expect(claims.jti == issued.jti)
        let forbidden = await #expect(throws: AuthdError.self) {
            try await client.verify(token: issued.accessToken, rolesAny: ["admin"])
        }
        #expect(forbidden?.code == .insufficientRole)
        let invalid = await #expect(throws: AuthdError.self) { try await client.verify(token: "x.y.z") }
        #expect(invalid?.code == .invalidToken)
        let wrongAudience = await #expect(throws: AuthdError.self) {
            try await client.verify(token: issued.accessToken, audience: "billing")
        }
        #expect(wrongAudience?.code == .wrongAudience)
        let badTTL = await #expect(throws: AuthdError.self) { try await client.issue(subject: "a", ttl: 86_400) }
        #expect(badTTL?.code == .badRequest)

        let keys = try await client.jwks().keys
        #expect(keys.count == 1)
        let status = try await client.status()
        #expect(status.activeKid == keys[0]["kid"]?.stringValue)
        #expect(status.issued == 1)
        #expect(status.verified == 1)
        #expect(status.rejected == 3)
        #expect(status.connections >= 1)
        try await client.ping()
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    @Test("200 concurrent clients each issue and verify")
    func concurrentClients() async throws {
        let daemon = try await InProcessDaemon()
        let socketPath = daemon.socketPath
        let successes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let client = AuthdClient(socketPath: socketPath)
                    let token = try await client.issue(subject: "user-\(index)").accessToken
                    let matches = try await client.verify(token: token).subject == "user-\(index)"
                    await client.close()
                    return matches
                }
            }
            var count = 0
            for try await ok in group where ok { count += 1 }
            return count
        }
        #expect(successes == 200)
        #expect(await daemon.stop() == 0)
    }

    @Test("one client shared by many concurrent callers pipelines and matches every reply")
    func sharedClient() async throws {
        let daemon = try await InProcessDaemon()
        let client = daemon.client()
        let matched = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<500 {
                group.addTask {
                    let token = try await client.issue(subject: "s\(index)", roles: ["r\(index)"]).accessToken
                    let claims = try await client.verify(token: token)
                    return claims.subject == "s\(index)" && claims.roles == ["r\(index)"]
                }
            }
            var count = 0
            for try await ok in group where ok { count += 1 }
            return count
        }
        #expect(matched == 500)
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    @Test("the client reconnects after the daemon restarts, and reports an unreachable daemon")
    func reconnect() async throws {
        let directory = TemporaryDirectory()
        let first = try await InProcessDaemon(directory: directory)
        let client = first.client()
        let token = try await client.issue(subject: "alice").accessToken
        #expect(await first.stop() == 0)
        let down = await #expect(throws: AuthdError.self) { try await client.ping() }
        #expect(down?.code == .daemonUnreachable)
        let second = try await InProcessDaemon(directory: directory)
        // Same state directory: the same key verifies the token issued before the restart.
        #expect(try await client.verify(token: token).subject == "alice")
        await client.close()
        #expect(await second.stop() == 0)
    }
}

@Suite("AuthdClient.authorize: the per-request check, as 401 and 403")
struct AuthorizeTests {
    @Test("authorized 200, no or bad token 401, missing role 403, revoked 401, daemon down 503")
    func mapping() async throws {
        let daemon = try await InProcessDaemon()
        let client = daemon.client()
        let user = try await client.issue(subject: "alice", roles: ["user"]).accessToken
        let admin = try await client.issue(subject: "root", roles: ["admin", "user"]).accessToken
        #expect(await client.authorize(bearer: "Bearer \(user)").httpStatus == 200)
        #expect(await client.authorize(bearer: "bearer  \(user)", requireAnyRole: ["user"]).httpStatus == 200)
        #expect(await client.authorize(bearer: "Bearer \(user)", requireAnyRole: ["admin"]).httpStatus == 403)
        #expect(await client.authorize(bearer: "Bearer \(admin)", requireAnyRole: ["admin"]).httpStatus == 200)
        for header in [nil, "", "Bearer", "Basic \(user)", "Bearer \(user)x", "Bearer a b", user] as [String?] {
            #expect(await client.authorize(bearer: header, requireAnyRole: ["admin"]).httpStatus == 401, "\(header ?? "nil")")
        }
        let authorized = await client.authorize(bearer: "Bearer \(user)")
        #expect(authorized.outcome == .authorized)
        #expect(authorized.claims?.subject == "alice")
        #expect(authorized.error == nil)
        let forbidden = await client.authorize(bearer: "Bearer \(user)", requireAnyRole: ["admin"])
        #expect(forbidden.outcome == .forbidden)
        #expect(forbidden.claims == nil)
        #expect(forbidden.error?.code == .insufficientRole)
        _ = try await client.revoke(.token(user))
        #expect(await client.authorize(bearer: "Bearer \(user)").httpStatus == 401)
        #expect(await daemon.stop() == 0)
        #expect(await client.authorize(bearer: "Bearer \(admin)").httpStatus == 503)
        await client.close()
    }
}
