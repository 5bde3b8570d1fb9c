import AuthdClient
import AuthdCore
import AuthdProtocol
import Foundation
import Testing

/// nginx (`auth_request`) and Caddy (`forward_auth`) from Debian in front of a service, asking
/// authd's HTTP face before each request, driven the way a browser or curl would drive them.
@Suite("Reverse proxies ask authd: nginx auth_request and Caddy forward_auth")
struct ReverseProxyTests {
    static func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer \(token)")] }

    @Test("401 with the challenge for no, forged, expired or revoked tokens; 200 with the user reaching the upstream; /admin 403 for a user, 200 for an admin", arguments: ReverseProxy.Kind.allCases)
    func matrix(_ kind: ReverseProxy.Kind) async throws {
        let clock = ManualUnixClock(Int64(Date().timeIntervalSince1970))
        let directory = TemporaryDirectory()
        let socket = directory.path + "/http.sock"
        let daemon = try await InProcessDaemon(config: "[http]\nlisten = [\"unix:\(socket)\"]\n", directory: directory, clock: clock)
        _ = try await RawConnection.whenListening(path: socket)
        let proxy = try await ReverseProxy(kind, authSocket: socket)
        let authd = daemon.client()
        let user = try await authd.issue(subject: "alice", roles: ["user"]).accessToken
        let admin = try await authd.issue(subject: "ada", roles: ["admin"]).accessToken
        let revoked = try await authd.issue(subject: "bob", roles: ["user"]).accessToken
        _ = try await authd.revoke(.token(revoked))
        let expiring = try await authd.issue(subject: "carol", roles: ["user"], ttl: 60).accessToken
        let forged = String(user.dropLast(6)) + "AAAAAA"
        let http = try proxy.client()

        let none = try await http.request("GET", "/app/page")
        #expect(none.status == 401, "\(kind): \(none.status) \(none.text) \(proxy.log)")
        #expect(none.header("WWW-Authenticate")?.hasPrefix(#"Bearer realm="authd""#) == true, "\(kind): \(none.headers)")

        let ok = try await http.request("GET", "/app/page", headers: Self.bearer(user))
        #expect(ok.status == 200, "\(kind): \(ok.status) \(proxy.log)")
        #expect(ok.text.contains("user=alice roles=user"), "\(kind): the upstream saw \(ok.text)")

        // A client cannot pass itself off as someone else: the identity headers the upstream sees
        // are the proxy's, whatever the client sent, even for a token without roles.
        let spoof = [("X-Auth-Request-User", "mallory"), ("X-Auth-Request-Roles", "admin")]
        let spoofed = try await http.request("GET", "/app/page", headers: Self.bearer(user) + spoof)
        #expect(spoofed.text.contains("user=alice roles=user"), "\(kind): the upstream saw \(spoofed.text)")
        let roleless = try await authd.issue(subject: "rex").accessToken
        let noRoles = try await http.request("GET", "/app/page", headers: Self.bearer(roleless) + spoof)
        #expect(noRoles.status == 200)
        #expect(noRoles.text.contains("user=rex roles=") && !noRoles.text.contains("admin"), "\(kind): the upstream saw \(noRoles.text)")

        for (name, token) in [("forged", forged), ("revoked", revoked)] {
            let refused = try await http.request("GET", "/app/page", headers: Self.bearer(token))
            #expect(refused.status == 401, "\(kind), \(name): \(refused.status)")
            #expect(refused.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) == true, "\(kind), \(name): \(refused.headers)")
            #expect(!refused.text.contains("user="), "\(kind), \(name): the upstream must not be reached")
        }
        clock.advance(by: 120)
        let expired = try await http.request("GET", "/app/page", headers: Self.bearer(expiring))
        #expect(expired.status == 401, "\(kind), expired: \(expired.status)")

        let forbidden = try await http.request("GET", "/admin/panel", headers: Self.bearer(user))
        #expect(forbidden.status == 403, "\(kind): \(forbidden.status) \(proxy.log)")
        #expect(!forbidden.text.contains("user="))
        let allowed = try await http.request("GET", "/admin/panel", headers: Self.bearer(admin))
        #expect(allowed.status == 200, "\(kind): \(allowed.status)")
        #expect(allowed.text.contains("user=ada roles=admin"), "\(kind): the upstream saw \(allowed.text)")

        http.connection.disconnect()
        let stopping = ContinuousClock.now
        await proxy.stop()
        #expect(ContinuousClock.now - stopping < .seconds(20), "\(kind) took \(ContinuousClock.now - stopping) to stop")
        #expect(await daemon.stop() == 0)
    }
}
