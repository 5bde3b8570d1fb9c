public import AuthdProtocol
import CArgon2
import Dispatch

/// Argon2id cost parameters (RFC 9106). The defaults are OWASP's minimum for argon2id:
/// 19 MiB of memory, 2 passes, 1 lane.
public struct Argon2Parameters: Sendable, Equatable {
    /// Memory per hash, in KiB.
    public var memoryKiB: UInt32 = 19_456
    /// Passes over the memory.
    public var iterations: UInt32 = 2
    /// Lanes.
    public var parallelism: UInt32 = 1

    /// The defaults.
    public init() {}

    /// Explicit parameters.
    public init(memoryKiB: UInt32, iterations: UInt32, parallelism: UInt32) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
    }

    /// Reads the parameters of a PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`.
    init?(phcString encoded: String) {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 6, fields[1] == "argon2id", fields[2] == "v=19" else { return nil }
        var values: [Substring: UInt32] = [:]
        for pair in fields[3].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = UInt32(parts[1]) else { return nil }
            values[parts[0]] = value
        }
        guard let memory = values["m"], let iterations = values["t"], let parallelism = values["p"] else { return nil }
        self.init(memoryKiB: memory, iterations: iterations, parallelism: parallelism)
    }
}

/// Hashes and checks passwords with Argon2id, in the PHC string format.
///
/// Each hash takes tens of milliseconds of CPU and ``Argon2Parameters/memoryKiB`` of memory, so
/// hashes never run on Swift's cooperative thread pool, where they would stall every `verify`
/// behind them. They run on a dispatch queue, and a gate lets at most `maximumConcurrentHashes`
/// run at once: 200 simultaneous logins then cost a bounded amount of memory, and wait their turn.
public final class PasswordHasher: Sendable {
    /// The longest password accepted, in bytes. Longer ones are refused before any hashing, so a
    /// huge "password" cannot buy a huge amount of work.
    public static let maximumPasswordLength = 4096
    /// Stored hashes asking for more memory than this are refused, not computed: a tampered
    /// database must not be able to make authd allocate without bound.
    static let maximumMemoryKiB: UInt32 = 4 * 1024 * 1024

    /// The parameters of new hashes.
    public let parameters: Argon2Parameters
    private let gate: ConcurrencyGate
    private let queue = DispatchQueue(label: "authd.argon2", attributes: .concurrent)
    /// A hash of a random password: unknown users are checked against it, so that they take as
    /// long to refuse as a wrong password.
    private let decoy: String

    /// A hasher with these parameters, running at most `maximumConcurrentHashes` at once.
    ///
    /// - Throws: ``StartupError`` when libargon2 refuses the parameters.
    public init(parameters: Argon2Parameters = Argon2Parameters(), maximumConcurrentHashes: Int = 2) throws(StartupError) {
        self.parameters = parameters
        self.gate = ConcurrencyGate(limit: max(1, maximumConcurrentHashes))
        switch Self.computeHash(Array(Base64URL.encode(secureRandomBytes(18)).utf8), parameters: parameters) {
        case .success(let encoded): decoy = encoded
        case .failure(let error): throw StartupError("argon2id parameters refused: \(error.message)")
        }
    }

    /// The most hashes that have ever run at once.
    public var peakConcurrentHashes: Int { gate.peak }

    /// The most hashes allowed to run at once.
    public var maximumConcurrentHashes: Int { gate.limit }

    /// A new PHC-format hash of `password`, with a fresh 16-byte salt.
    public func hash(_ password: String) async throws(AuthdError) -> String {
        try Self.checkLength(password)
        let bytes = Array(password.utf8)
        let parameters = self.parameters
        return try await run { Self.computeHash(bytes, parameters: parameters) }.get()
    }

    /// Whether `password` matches `encoded`. With `encoded == nil` (no such user) the password is
    /// checked against a decoy hash and the answer is `false`, in the same time as a real check.
    public func verify(_ password: String, against encoded: String?) async throws(AuthdError) -> Bool {
        try Self.checkLength(password)
        let bytes = Array(password.utf8)
        let target = encoded ?? decoy
        guard let stored = Argon2Parameters(phcString: target), stored.memoryKiB <= Self.maximumMemoryKiB else {
            throw AuthdError(.internalError, "a stored password hash is not an argon2id hash authd can check")
        }
        let matches = await run { () -> Bool in
            // argon2id_verify recomputes the hash and compares it in constant time.
            bytes.withUnsafeBytes { argon2id_verify(target, $0.baseAddress, $0.count) } == ARGON2_OK.rawValue
        }
        return matches && encoded != nil
    }

    /// Whether `encoded` was made with other parameters than today's, so it should be replaced
    /// at the next successful login.
    public func needsRehash(_ encoded: String) -> Bool {
        Argon2Parameters(phcString: encoded) != parameters
    }

    static func checkLength(_ password: String) throws(AuthdError) {
        guard password.utf8.count <= maximumPasswordLength else {
            throw .badRequest("field 'password' is longer than \(maximumPasswordLength) bytes")
        }
    }

    /// Runs `work` off the cooperative pool, once the gate admits it.
    private func run<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
        await gate.withPermit { () async -> Value in
            await withCheckedContinuation { continuation in
                queue.async { continuation.resume(returning: work()) }
            }
        }
    }

    private static func computeHash(_ password: [UInt8], parameters: Argon2Parameters) -> Result<String, AuthdError> {
        let salt = secureRandomBytes(16)
        let hashLength = 32
        let encodedLength = argon2_encodedlen(
            parameters.iterations, parameters.memoryKiB, parameters.parallelism, UInt32(salt.count), UInt32(hashLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: encodedLength)
        let status = password.withUnsafeBytes { passwordBytes in
            salt.withUnsafeBytes { saltBytes in
                argon2id_hash_encoded(
                    parameters.iterations, parameters.memoryKiB, parameters.parallelism,
                    passwordBytes.baseAddress, passwordBytes.count, saltBytes.baseAddress, saltBytes.count,
                    hashLength, &encoded, encodedLength)
            }
        }
        guard status == ARGON2_OK.rawValue else {
            return .failure(AuthdError(.internalError, String(cString: argon2_error_message(status))))
        }
        return .success(String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
