import AuthdClient
import AuthdProtocol
import Foundation
import Synchronization
import Testing

/// 64 clients with a realistic mix while the daemon is SIGKILLed and restarted every
/// `AUTHD_SOAK_KILL_EVERY` seconds (15 in `make test`, 30 in `make soak`), for `AUTHD_SOAK_SECONDS`
/// (60 in `make test`, 600 in `make soak`). At the end: no acknowledged revocation lost, no refresh token spent twice, no
/// error other than the daemon being briefly away, descriptors and memory flat, the WAL bounded.
@Suite("Soak: 64 clients, a realistic mix, the daemon SIGKILLed again and again", .serialized)
struct SoakTests {
    static let environment = ProcessInfo.processInfo.environment
    static let seconds = Double(environment["AUTHD_SOAK_SECONDS"] ?? "") ?? 60
    static let killEvery = Double(environment["AUTHD_SOAK_KILL_EVERY"] ?? "") ?? 15

    /// What the clients were told, shared by all of them.
    final class Ledger: Sendable {
        struct State {
            var revoked: [String] = []
            var spentRefreshTokens: [String] = []
            var unexpected: [String] = []
            var counts: [String: Int] = [:]
            var unreachable = 0
        }

        let state = Mutex(State())

        func count(_ op: String) { state.withLock { $0.counts[op, default: 0] += 1 } }
        func revoked(_ token: String) { state.withLock { $0.revoked.append(token) } }
        func spent(_ token: String) { state.withLock { $0.spentRefreshTokens.append(token) } }

        /// Sorts an error: the daemon being away is expected while it restarts; anything else is not.
        func failed(_ op: String, _ error: AuthdError) {
            state.withLock { state in
                if error.code == .daemonUnreachable {
                    state.unreachable += 1
                } else if state.unexpected.count < 50 {
                    state.unexpected.append("\(op): \(error)")
                }
            }
        }
    }

    @Test("soak under SIGKILL: nothing acknowledged is lost, nothing unexpected happens, resources stay flat")
    func soak() async throws {
        let directory = TemporaryDirectory()
        let config = "[users]\nmax_failures = 0\n"
        var daemon = try await DaemonProcess(config: config, directory: directory)
        _ = try await daemon.client().addUser("soak-user", password: "soak-password")
        let ledger = Ledger()
        let deadline = ContinuousClock.now + .seconds(Self.seconds)
        let socketPath = daemon.socketPath

        var samples: [(rssKiB: Int, descriptors: Int)] = []
        var restarts = 0
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<64 {
                group.addTask { await Self.client(index, socketPath: socketPath, ledger: ledger, until: deadline) }
            }
            // The killer runs here, between the clients' turns.
            while ContinuousClock.now + .seconds(Self.killEvery) < deadline {
                try? await Task.sleep(for: .seconds(Self.killEvery * Double.random(in: 0.8...1.2)))
                if let sample = Self.sample(daemon.process.processIdentifier) { samples.append(sample) }
                kill(daemon.process.processIdentifier, SIGKILL)
                _ = await daemon.waitForExit()
                guard let restarted = try? await DaemonProcess(config: config, directory: directory) else {
                    ledger.failed("restart", AuthdError(.internalError, "authd did not come back:\n\(daemon.log.suffix(2000))"))
                    break
                }
                daemon = restarted
                restarts += 1
            }
            await group.waitForAll()
        }

        let state = ledger.state.withLock { $0 }
        print("soak: \(Int(Self.seconds)) s, \(restarts) SIGKILLs, ops \(state.counts), daemon away \(state.unreachable) times, "
            + "samples before each kill (RSS KiB, fds) \(samples.map { "(\($0.rssKiB), \($0.descriptors))" }.joined(separator: " "))")
        #expect(state.unexpected.isEmpty, "\(state.unexpected.prefix(10))")
        #expect(restarts >= Int(Self.seconds / Self.killEvery) - 1)
        #expect((state.counts["verify"] ?? 0) > 1000)

        // Nothing acknowledged was lost: every revoked token is refused, every spent refresh token
        // stays spent.
        let checker = daemon.client()
        for token in state.revoked {
            do {
                _ = try await checker.verify(token: token)
                Issue.record("a token whose revocation was acknowledged verified again")
            } catch {
                #expect(error.code == .tokenRevoked, "\(error)")
            }
        }
        for token in state.spentRefreshTokens {
            do {
                _ = try await checker.refresh(token)
                Issue.record("a refresh token was spent twice")
            } catch {
                #expect(error.code == .refreshReused || error.code == .tokenRevoked, "\(error)")
            }
        }
        // Flat: sampled under load just before each kill, the last instance's descriptors and
        // memory are like the first's (each instance carries the whole revocation list, so memory
        // may grow a little with it).
        if let first = samples.first, let last = samples.last {
            #expect(last.descriptors <= first.descriptors + 16, "descriptors \(first.descriptors) -> \(last.descriptors)")
            #expect(last.rssKiB <= first.rssKiB + 48 * 1024, "RSS \(first.rssKiB) -> \(last.rssKiB) KiB")
        }
        let wal = (try? FileManager.default.attributesOfItem(atPath: daemon.stateDirectory + "/authd.db-wal")[.size] as? Int) ?? 0
        print("soak: WAL \(wal / 1024) KiB, \(state.revoked.count) revocations and \(state.spentRefreshTokens.count) refreshes acknowledged")
        #expect(wal < 64 << 20, "the WAL grew to \(wal) bytes")
        await checker.close()
        #expect(await daemon.stop() == 0)
    }

    /// One client's loop: 90 % verify, 6 % issue, 2 % refresh, 1 % revoke, 1 % login.
    static func client(_ index: Int, socketPath: String, ledger: Ledger, until deadline: ContinuousClock.Instant) async {
        let client = AuthdClient(configuration: .init(socketPath: socketPath, requestTimeout: .seconds(15)))
        var live: [String] = []
        var refreshToken: String?
        var generator = SystemRandomNumberGenerator()
        while ContinuousClock.now < deadline {
            let roll = Int.random(in: 0..<100, using: &generator)
            do throws(AuthdError) {
                if live.isEmpty || (roll >= 90 && roll < 96) {
                    let token = try await client.issue(subject: "soak-\(index)", roles: ["user"]).accessToken
                    live.append(token)
                    if live.count > 16 { live.removeFirst() }
                    ledger.count("issue")
                } else if roll < 90 {
                    _ = try await client.verify(token: live.randomElement(using: &generator)!, rolesAny: ["user"])
                    ledger.count("verify")
                } else if roll < 98 {
                    if let presented = refreshToken {
                        // If the daemon dies before the reply, whether this token was spent is
                        // unknown: the chain is dropped, never presented again.
                        refreshToken = nil
                        refreshToken = try await client.refresh(presented).refreshToken
                        ledger.spent(presented)
                    } else {
                        refreshToken = try await client.issue(subject: "soak-\(index)", refresh: true).refreshToken
                    }
                    ledger.count("refresh")
                } else if roll < 99 {
                    let token = live.removeLast()
                    _ = try await client.revoke(.token(token))
                    ledger.revoked(token)
                    ledger.count("revoke")
                } else {
                    _ = try await client.login(username: "soak-user", password: "soak-password")
                    ledger.count("login")
                }
            } catch {
                ledger.failed(roll < 90 ? "verify" : "op \(roll)", error)
                if error.code == .daemonUnreachable { try? await Task.sleep(for: .milliseconds(100)) }
            }
        }
        await client.close()
    }

    /// RSS and open descriptors of a process.
    static func sample(_ pid: Int32) -> (rssKiB: Int, descriptors: Int)? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let rss = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]),
            let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        else { return nil }
        return (rss, descriptors)
    }
}
