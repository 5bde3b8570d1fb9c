public import AuthdProtocol
import CArgon2
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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

    /// Reads the parameter field of a PHC string: `m=19456,t=2,p=1`.
    init?(phcField field: Substring) {
        var values: [Substring: UInt32] = [:]
        for pair in field.split(separator: ",") {
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
    /// What unknown users are checked against, so that they take as long to refuse as a wrong
    /// password: today's parameters with a random salt and random bytes for the hash. Checking
    /// costs the same whatever the expected bytes are (`argon2id_verify_ctx` recomputes the hash
    /// from the password and salt, then compares), so nothing is hashed to make it: a hash at
    /// start-up cost tens of milliseconds before the first reply, which a socket-activated authd
    /// owes its first caller.
    let decoy: String

    /// A hasher with these parameters, running at most `maximumConcurrentHashes` at once.
    ///
    /// - Throws: ``StartupError`` when libargon2 would refuse the parameters.
    public init(parameters: Argon2Parameters = Argon2Parameters(), maximumConcurrentHashes: Int = 2) throws(StartupError) {
        if let problem = Self.refusal(of: parameters) { throw StartupError("argon2id parameters refused: \(problem)") }
        self.parameters = parameters
        self.gate = ConcurrencyGate(limit: max(1, maximumConcurrentHashes))
        decoy = PHCString(parameters: parameters, salt: secureRandomBytes(16), hash: secureRandomBytes(32)).encoded
    }

    /// Why libargon2 would refuse `parameters`, by the limits of its `argon2.h` (macros Swift
    /// cannot import): 1 to 2^24 − 1 lanes, at least 8 KiB of memory per lane, at least one pass.
    static func refusal(of parameters: Argon2Parameters) -> String? {
        if !(1...0xFF_FFFF).contains(parameters.parallelism) { return "parallelism must be 1 to 16777215" }
        if parameters.iterations < 1 { return "at least 1 iteration is needed" }
        if UInt64(parameters.memoryKiB) < 8 * UInt64(parameters.parallelism) { return "at least 8 KiB of memory per lane is needed" }
        return nil
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
        guard let stored = PHCString(encoded ?? decoy), stored.parameters.memoryKiB <= Self.maximumMemoryKiB else {
            throw AuthdError(.internalError, "a stored password hash is not an argon2id hash authd can check")
        }
        let matches = await run { () -> Bool in
            var expected = stored.hash
            var salt = stored.salt
            // argon2id_verify_ctx recomputes the hash and compares it in constant time.
            return Self.withContext(password: bytes, salt: &salt, outputLength: expected.count, parameters: stored.parameters) {
                context in expected.withUnsafeMutableBytes { argon2id_verify_ctx(&context, $0.baseAddress) }
            } == ARGON2_OK.rawValue
        }
        return matches && encoded != nil
    }

    /// Whether `encoded` was made with other parameters than today's, so it should be replaced
    /// at the next successful login.
    public func needsRehash(_ encoded: String) -> Bool {
        PHCString(encoded)?.parameters != parameters
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
        var salt = secureRandomBytes(16)
        var hash = [UInt8](repeating: 0, count: 32)
        let status = withContext(password: password, salt: &salt, outputLength: hash.count, parameters: parameters) { context in
            let status = argon2_ctx(&context, Argon2_id)
            if status == ARGON2_OK.rawValue { hash = Array(UnsafeBufferPointer(start: context.out, count: Int(context.outlen))) }
            return status
        }
        guard status == ARGON2_OK.rawValue else {
            return .failure(AuthdError(.internalError, String(cString: argon2_error_message(status))))
        }
        return .success(PHCString(parameters: parameters, salt: salt, hash: hash).encoded)
    }

    /// Runs `body` with an argon2 context over these inputs, whose working memory is mapped for
    /// this one hash and unmapped (zeroed by libargon2 first) as soon as it is done. Through
    /// malloc, glibc would keep each hash's memory in the arena of whichever thread ran it, and
    /// resident memory would grow with the threads that ever hashed rather than with
    /// `maximumConcurrentHashes`.
    private static func withContext(
        password: [UInt8], salt: inout [UInt8], outputLength: Int, parameters: Argon2Parameters,
        _ body: (inout argon2_context) -> Int32
    ) -> Int32 {
        var password = password
        var output = [UInt8](repeating: 0, count: outputLength)
        return password.withUnsafeMutableBufferPointer { password in
            salt.withUnsafeMutableBufferPointer { salt in
                output.withUnsafeMutableBufferPointer { output in
                    var context = argon2_context(
                        out: output.baseAddress, outlen: UInt32(output.count),
                        pwd: password.baseAddress, pwdlen: UInt32(password.count),
                        salt: salt.baseAddress, saltlen: UInt32(salt.count),
                        secret: nil, secretlen: 0, ad: nil, adlen: 0,
                        t_cost: parameters.iterations, m_cost: parameters.memoryKiB,
                        lanes: parameters.parallelism, threads: parameters.parallelism,
                        version: UInt32(ARGON2_VERSION_13.rawValue),
                        allocate_cbk: { memory, size in
                            let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                            guard let mapping, mapping != MAP_FAILED else { return ARGON2_MEMORY_ALLOCATION_ERROR.rawValue }
                            memory?.pointee = mapping.assumingMemoryBound(to: UInt8.self)
                            return ARGON2_OK.rawValue
                        },
                        free_cbk: { memory, size in _ = munmap(memory, size) },
                        flags: 0)  // ARGON2_DEFAULT_FLAGS: Swift cannot import the macro
                    return body(&context)
                }
            }
        }
    }
}

/// An argon2id hash in the PHC string format that libargon2 and most password libraries share:
/// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, salt and hash in unpadded standard base64.
struct PHCString {
    var parameters: Argon2Parameters
    var salt: [UInt8]
    var hash: [UInt8]

    init(parameters: Argon2Parameters, salt: [UInt8], hash: [UInt8]) {
        self.parameters = parameters
        self.salt = salt
        self.hash = hash
    }

    init?(_ encoded: String) {
        let fields = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0].isEmpty, fields[1] == "argon2id", fields[2] == "v=19",
            let parameters = Argon2Parameters(phcField: fields[3]),
            let salt = Self.decode(fields[4]), (8...64).contains(salt.count),
            let hash = Self.decode(fields[5]), (16...64).contains(hash.count)
        else { return nil }
        self.init(parameters: parameters, salt: salt, hash: hash)
    }

    var encoded: String {
        "$argon2id$v=19$m=\(parameters.memoryKiB),t=\(parameters.iterations),p=\(parameters.parallelism)$"
            + Self.encode(salt) + "$" + Self.encode(hash)
    }

    // Standard base64 differs from base64url only in two characters of the alphabet.
    private static func encode(_ bytes: [UInt8]) -> String {
        String(Base64URL.encode(bytes).map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
    }

    private static func decode(_ text: Substring) -> [UInt8]? {
        guard !text.contains("-"), !text.contains("_") else { return nil }
        return Base64URL.decode(String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 }))
    }
}
