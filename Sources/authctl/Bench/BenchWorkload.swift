/// The requests one benchmark slot sends, and what it learns from each reply.
///
/// Request lines are built as bytes up front wherever possible, so that the generator costs as
/// little as it can: the benchmark measures authd, not the JSON encoder of its client.
enum BenchOp: String, CaseIterable {
    case verifyHot = "verify-hot"
    case verifyCold = "verify-cold"
    case issue
    case refresh
    case revoke
    case revokeToken = "revoke-token"
    case login
    case mix

    var summary: String {
        switch self {
        case .verifyHot: "verify a small set of tokens again and again (the verified-token cache's case)"
        case .verifyCold: "verify each token once (the signature is checked every time)"
        case .issue: "issue a token"
        case .refresh: "spend a refresh token for a new pair (durable)"
        case .revoke: "revoke a fresh jti (durable)"
        case .revokeToken: "revoke by token, each token once (a signature check, then durable)"
        case .login: "password login (argon2id)"
        case .mix: "90 % verify-hot, 8 % issue, 2 % revoke"
        }
    }
}

/// Shared read-only inputs prepared before the clock starts.
struct BenchInputs {
    /// Ready `verify` lines for the hot set.
    var hotVerifyLines: [[UInt8]] = []
    /// Ready lines that are each sent once: `verify` (verify-cold) or `revoke` (revoke-token) of a
    /// token never presented before.
    var onceLines: [[UInt8]] = []
    /// The refresh token each slot starts its chain with.
    var refreshTokens: [String] = []
    /// The `login` line.
    var loginLine: [UInt8] = []
}

/// One connection's request stream.
struct BenchStream {
    let op: BenchOp
    let inputs: BenchInputs
    let connection: Int
    let connections: Int
    private var sequence = 0
    private var random = SystemRandomNumberGenerator()
    /// For `refresh`: each outstanding request's slot, and each slot's current token.
    private var chains: [String]
    private var outstandingChains: [Int] = []
    private var nextChain = 0

    init(op: BenchOp, inputs: BenchInputs, connection: Int, connections: Int, depth: Int) {
        self.op = op
        self.inputs = inputs
        self.connection = connection
        self.connections = connections
        let first = connection * depth
        chains = op == .refresh ? Array(inputs.refreshTokens[first..<(first + depth)]) : []
    }

    /// Whether the stream has run out (`verify-cold` and `revoke-token`, whose tokens are used once each).
    var isExhausted: Bool {
        (op == .verifyCold || op == .revokeToken) && connection + sequence * connections >= inputs.onceLines.count
    }

    /// The next request line, with its newline.
    mutating func next() -> [UInt8] {
        defer { sequence += 1 }
        switch op {
        case .verifyHot: return inputs.hotVerifyLines[(connection + sequence) % inputs.hotVerifyLines.count]
        case .verifyCold, .revokeToken: return inputs.onceLines[connection + sequence * connections]
        case .issue: return Array(#"{"op":"issue","sub":"bench-\#(connection)","roles":["user"]}"#.utf8) + [0x0A]
        case .revoke: return revokeLine()
        case .login: return inputs.loginLine
        case .refresh:
            let chain = nextChain
            nextChain = (nextChain + 1) % chains.count
            outstandingChains.append(chain)
            return Array(#"{"op":"refresh","refresh_token":"\#(chains[chain])"}"#.utf8) + [0x0A]
        case .mix:
            let roll = Int.random(in: 0..<100, using: &random)
            if roll < 90 { return inputs.hotVerifyLines[(connection + sequence) % inputs.hotVerifyLines.count] }
            if roll < 98 { return Array(#"{"op":"issue","sub":"bench-\#(connection)","roles":["user"]}"#.utf8) + [0x0A] }
            return revokeLine()
        }
    }

    private mutating func revokeLine() -> [UInt8] {
        let jti = "bench-\(connection)-\(sequence)-\(UInt64.random(in: 0...UInt64.max, using: &random))"
        return Array(#"{"op":"revoke","jti":"\#(jti)"}"#.utf8) + [0x0A]
    }

    /// Reads what the reply to the oldest outstanding request teaches (for `refresh`, the
    /// slot's next token). Returns whether the reply was a success.
    mutating func absorb(_ reply: ArraySlice<UInt8>) -> Bool {
        let success = BenchReply.isSuccess(reply)
        if op == .refresh, !outstandingChains.isEmpty {
            let chain = outstandingChains.removeFirst()
            if success, let token = BenchReply.string("refresh_token", in: reply) { chains[chain] = token }
        }
        return success
    }
}

/// Just enough reading of reply lines for the benchmark.
enum BenchReply {
    private static let okTrue = Array(#""ok":true"#.utf8)

    static func isSuccess(_ line: ArraySlice<UInt8>) -> Bool { find(okTrue, in: line) != nil }

    /// The value of a string field, found textually (authd's replies are compact and escape-free
    /// for the fields read here).
    static func string(_ field: String, in line: ArraySlice<UInt8>) -> String? {
        let marker = Array("\"\(field)\":\"".utf8)
        guard let start = find(marker, in: line) else { return nil }
        let valueStart = start + marker.count
        guard let end = line[valueStart...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: line[valueStart..<end], as: UTF8.self)
    }

    private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count, let first = needle.first else { return nil }
        var index = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while index <= last {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
