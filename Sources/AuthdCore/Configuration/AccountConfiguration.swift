/// Password logins: the `[users]` table of `authd.toml`.
public struct AccountConfiguration: Sendable, Equatable {
    /// Argon2id cost of new password hashes.
    public var argon2 = Argon2Parameters()
    /// Password hashes allowed to run at once; each holds `argon2.memoryKiB` of memory.
    public var maximumConcurrentHashes = 2
    /// The shortest password `user_add` and `user_set_password` accept, in characters.
    public var minimumPasswordLength = 8
    /// Throttling of failed logins per username.
    public var throttle = LoginThrottle.Policy()
    /// Audiences a `login` may ask for; `nil` allows only `tokens.audience`.
    public var loginAudiences: [String]?

    /// The defaults.
    public init() {}

    /// OWASP's weakest recommended argon2id setting (m=7 MiB, t=5) does 35,840 KiB·passes of work;
    /// anything cheaper is refused at start.
    static let minimumArgon2Work: UInt64 = 35_840

    init(table: inout ConfigTableReader) throws(StartupError) {
        let memory = try table.integer("argon2_memory_kib", default: Int64(argon2.memoryKiB), in: 7168...4_194_304)
        let iterations = try table.integer("argon2_iterations", default: Int64(argon2.iterations), in: 1...64)
        let parallelism = try table.integer("argon2_parallelism", default: Int64(argon2.parallelism), in: 1...16)
        guard UInt64(memory) * UInt64(iterations) >= Self.minimumArgon2Work else {
            throw table.invalid(
                "argon2_iterations",
                "m=\(memory) KiB with t=\(iterations) is weaker than OWASP's minimum (m × t ≥ \(Self.minimumArgon2Work); the default is m=19456, t=2)")
        }
        argon2 = Argon2Parameters(memoryKiB: UInt32(memory), iterations: UInt32(iterations), parallelism: UInt32(parallelism))
        maximumConcurrentHashes = Int(
            try table.integer("max_concurrent_hashes", default: Int64(maximumConcurrentHashes), in: 1...64))
        minimumPasswordLength = Int(try table.integer("min_password_length", default: Int64(minimumPasswordLength), in: 1...128))
        throttle.maximumFailures = Int(try table.integer("max_failures", default: Int64(throttle.maximumFailures), in: 0...1000))
        throttle.window = try table.duration("failure_window", default: throttle.window, in: 1...86_400)
        throttle.lockout = try table.duration("lockout", default: throttle.lockout, in: 1...86_400)
        guard throttle.lockout <= throttle.window else {
            throw table.invalid("lockout", "\(throttle.lockout) s is longer than users.failure_window (\(throttle.window) s)")
        }
        loginAudiences = try table.optionalStrings("login_audiences")
        if loginAudiences?.isEmpty == true { throw table.invalid("login_audiences", "must name at least one audience") }
        try table.finish()
    }
}
