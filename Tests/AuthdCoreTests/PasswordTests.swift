@testable import AuthdCore
import AuthdProtocol
import CArgon2
import Foundation
import Synchronization
import Testing

@Suite("Passwords: argon2id hashes, the concurrency gate, the login throttle")
struct PasswordTests {
    @Test("hashes are argon2id PHC strings with the configured parameters and a fresh salt")
    func phcFormat() async throws {
        let hasher = try PasswordHasher()
        let first = try await hasher.hash("correct horse")
        let second = try await hasher.hash("correct horse")
        #expect(first.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(first != second)
        #expect(try await hasher.verify("correct horse", against: first))
        #expect(try await hasher.verify("correct horse", against: second))
        #expect(try await !hasher.verify("correct hors", against: first))
        #expect(try await !hasher.verify("", against: first))
        #expect(!hasher.needsRehash(first))
    }

    @Test("the PHC strings are libargon2's own: each side verifies the other's hashes")
    func libargon2Compatibility() async throws {
        let hasher = try PasswordHasher()
        let ours = try await hasher.hash("interop-password")
        #expect(argon2id_verify(ours, "interop-password", 16) == ARGON2_OK.rawValue)
        #expect(argon2id_verify(ours, "interop-passwore", 16) == ARGON2_VERIFY_MISMATCH.rawValue)
        var encoded = [CChar](repeating: 0, count: 128)
        let salt = Array("0123456789abcdef".utf8)
        #expect(argon2id_hash_encoded(2, 19_456, 1, "interop-password", 16, salt, salt.count, 32, &encoded, encoded.count) == ARGON2_OK.rawValue)
        let theirs = String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(try await hasher.verify("interop-password", against: theirs))
        #expect(try await !hasher.verify("interop-passwore", against: theirs))
        // The same inputs give the same string.
        let rebuilt = try #require(PHCString(theirs))
        #expect(rebuilt.encoded == theirs)
        // Padding or the base64url alphabet is not the PHC format.
        #expect(PHCString(theirs + "=") == nil)
        #expect(PHCString(theirs.replacingOccurrences(of: "p=1$", with: "p=1$-")) == nil)
    }

    @Test("no stored hash (an unknown user) is checked against a decoy of today's parameters, and never matches")
    func decoy() async throws {
        let hasher = try PasswordHasher(parameters: Argon2Parameters(memoryKiB: 8192, iterations: 3, parallelism: 2))
        let decoy = try #require(PHCString(hasher.decoy))
        #expect(decoy.parameters == hasher.parameters)
        #expect(decoy.salt.count == 16 && decoy.hash.count == 32)
        #expect(try PHCString(PasswordHasher(parameters: hasher.parameters).decoy)?.salt != decoy.salt)
        #expect(hasher.peakConcurrentHashes == 0)
        #expect(try await !hasher.verify("anything", against: nil))
        #expect(try await !hasher.verify("", against: nil))
        // The check ran, as a real one would: through the gate, off the cooperative pool.
        #expect(hasher.peakConcurrentHashes == 1)
    }

    @Test("parameters libargon2 refuses are refused at start, and the ones it takes are not")
    func refusedParameters() throws {
        /// What libargon2 itself says of them (cheap: at most 16 KiB).
        func libargon2Accepts(_ parameters: Argon2Parameters) -> Bool {
            let password = Array("password".utf8)
            let salt = [UInt8](repeating: 7, count: 16)
            var hash = [UInt8](repeating: 0, count: 32)
            return argon2id_hash_raw(
                parameters.iterations, parameters.memoryKiB, parameters.parallelism, password, password.count, salt, salt.count,
                &hash, hash.count) == ARGON2_OK.rawValue
        }
        for parameters in [
            Argon2Parameters(memoryKiB: 16, iterations: 0, parallelism: 1),
            Argon2Parameters(memoryKiB: 16, iterations: 1, parallelism: 0),
            Argon2Parameters(memoryKiB: 15, iterations: 1, parallelism: 2),
            Argon2Parameters(memoryKiB: 7, iterations: 1, parallelism: 1),
        ] {
            #expect(!libargon2Accepts(parameters))
            #expect(throws: StartupError.self) { try PasswordHasher(parameters: parameters) }
        }
        for parameters in [Argon2Parameters(memoryKiB: 16, iterations: 1, parallelism: 2), Argon2Parameters(memoryKiB: 8, iterations: 1, parallelism: 1)] {
            #expect(libargon2Accepts(parameters))
            #expect(PasswordHasher.refusal(of: parameters) == nil)
        }
    }

    @Test("a password over 4 KiB is refused before hashing; exactly 4 KiB is hashed")
    func lengthCap() async throws {
        let hasher = try PasswordHasher()
        let longest = String(repeating: "p", count: PasswordHasher.maximumPasswordLength)
        let hash = try await hasher.hash(longest)
        #expect(try await hasher.verify(longest, against: hash))
        let peakBefore = hasher.peakConcurrentHashes
        for attempt in [longest + "p", String(repeating: "é", count: 2049)] {
            let error = await #expect(throws: AuthdError.self) { try await hasher.verify(attempt, against: hash) }
            #expect(error?.code == .badRequest)
            await #expect(throws: AuthdError.self) { try await hasher.hash(attempt) }
        }
        #expect(hasher.peakConcurrentHashes == peakBefore)
    }

    @Test("hashes made with other parameters verify, and are flagged for rehashing")
    func rehash() async throws {
        let old = try PasswordHasher(parameters: Argon2Parameters(memoryKiB: 8192, iterations: 5, parallelism: 1))
        let current = try PasswordHasher()
        let hash = try await old.hash("s3cret-pass")
        #expect(hash.hasPrefix("$argon2id$v=19$m=8192,t=5,p=1$"))
        #expect(try await current.verify("s3cret-pass", against: hash))
        #expect(current.needsRehash(hash))
    }

    @Test("a stored hash that is not argon2id, or asks for absurd memory, is refused, not computed")
    func hostileStoredHash() async throws {
        let hasher = try PasswordHasher()
        for stored in ["$2b$12$abcdefghijklmnopqrstuv", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "plain"] {
            let error = await #expect(throws: AuthdError.self) { try await hasher.verify("x", against: stored) }
            #expect(error?.code == .internalError)
        }
    }

    @Test("at most the configured number of hashes run at once, however many are asked for")
    func boundedConcurrency() async throws {
        let hasher = try PasswordHasher(maximumConcurrentHashes: 2)
        let hash = try await hasher.hash("concurrent-pass")
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<24 {
                group.addTask { (try? await hasher.verify(index.isMultiple(of: 2) ? "concurrent-pass" : "wrong", against: hash)) ?? false }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 12)
        #expect(hasher.peakConcurrentHashes == 2)
    }

    @Test("the gate admits waiters in order as permits free up")
    func gateOrder() async throws {
        let gate = ConcurrencyGate(limit: 3)
        let inside = ManualCounter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    await gate.withPermit { () async -> Void in
                        inside.enter()
                        try? await Task.sleep(for: .milliseconds(2))
                        inside.leave()
                    }
                }
            }
        }
        // Never more than three inside, and the gate does let three in.
        #expect(inside.peak == 3)
        #expect(gate.peak == 3)
        #expect(inside.total == 40)
    }

    @Test("throttle: locked after max failures within the window, for the lockout, per username")
    func throttle() {
        var policy = LoginThrottle.Policy()
        policy.maximumFailures = 3
        policy.window = 600
        policy.lockout = 60
        let throttle = LoginThrottle(policy: policy)
        let start: Int64 = 1_000_000
        #expect(!throttle.recordFailure("alice", now: start))
        #expect(!throttle.recordFailure("alice", now: start + 1))
        #expect(throttle.retryAfter("alice", now: start + 2) == nil)
        #expect(throttle.recordFailure("alice", now: start + 2))
        #expect(throttle.retryAfter("alice", now: start + 2) == 60)
        #expect(throttle.retryAfter("alice", now: start + 61) == 1)
        #expect(throttle.retryAfter("bob", now: start + 3) == nil)
        #expect(throttle.retryAfter("alice", now: start + 62) == nil)
        // Another failure while failures are still in the window locks again at once.
        #expect(throttle.recordFailure("alice", now: start + 70))
        throttle.recordSuccess("alice")
        #expect(throttle.retryAfter("alice", now: start + 71) == nil)
        // Failures spread wider than the window never lock.
        for step in 0..<10 { #expect(!throttle.recordFailure("carol", now: start + Int64(step) * 301)) }
    }

    @Test("throttle off: max_failures = 0")
    func throttleOff() {
        var policy = LoginThrottle.Policy()
        policy.maximumFailures = 0
        let throttle = LoginThrottle(policy: policy)
        for _ in 0..<50 { throttle.recordFailure("alice", now: 5) }
        #expect(throttle.retryAfter("alice", now: 5) == nil)
    }
}

/// Counts how many tasks are inside a section at once.
final class ManualCounter: Sendable {
    private struct State {
        var current = 0
        var peak = 0
        var total = 0
    }

    private let state = Synchronization.Mutex(State())

    func enter() {
        state.withLock {
            $0.current += 1
            $0.total += 1
            $0.peak = max($0.peak, $0.current)
        }
    }

    func leave() { state.withLock { $0.current -= 1 } }
    var peak: Int { state.withLock { $0.peak } }
    var total: Int { state.withLock { $0.total } }
}
