import AuthdCore
import AuthdProtocol
import AuthdServer
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A broken invariant found by a fuzz target.
public struct FuzzFailure: Error, CustomStringConvertible {
    /// What broke.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The code that reads untrusted bytes, wrapped for libFuzzer (`make fuzz`) and for replaying the
/// committed corpus in `make test`. Each target feeds one input through the real code and checks
/// invariants beyond "did not crash"; a broken one throws ``FuzzFailure``.
public enum FuzzTargets {
    /// The request-line decoder, the request envelope parser and the verify shortcut. The input is
    /// split at every byte value 0xFF into reads, so the fuzzer also explores how lines straddle
    /// reads. Invariants: the frames are exactly those of the bytes read, however they were split
    /// (``expectedFrames(_:limit:)``); decoded lines hold no newline and respect the limit; and
    /// whenever the verify shortcut accepts a line, the full parser reads the same op, id and token.
    public static func requestLine(_ data: [UInt8]) throws(FuzzFailure) {
        let limit = 256
        let channel = EmbeddedChannel()
        do {
            try channel.pipeline.syncOperations.addHandler(RequestLineHandler(maximumLineLength: limit))
            for chunk in data.split(separator: 0xFF, omittingEmptySubsequences: false) {
                try channel.writeInbound(channel.allocator.buffer(bytes: chunk))
            }
            _ = try channel.finish()
        } catch {
            // The decoder never throws; a pipeline error here is a finding.
            throw FuzzFailure("the line decoder failed: \(error)")
        }
        var frames: [[UInt8]?] = []
        while let frame = try? channel.readInbound(as: RequestFrame.self) {
            guard case .line(let line) = frame else {
                frames.append(nil)
                continue
            }
            let bytes = Array(line.readableBytesView)
            frames.append(bytes)
            guard !bytes.contains(0x0A) else { throw FuzzFailure("a decoded line holds a newline") }
            guard bytes.count <= limit else { throw FuzzFailure("a decoded line of \(bytes.count) bytes passed the \(limit)-byte limit") }
            try checkShortcutAgrees(bytes)
        }
        guard frames == expectedFrames(data.filter { $0 != 0xFF }, limit: limit) else {
            throw FuzzFailure("the line decoder's frames differ from the lines of its input")
        }
        // The whole input as one line, as well: the parsers see every input the fuzzer makes.
        try checkShortcutAgrees(data)
    }

    /// The frames of `stream` read as one whole, by the protocol's rules: each line up to its
    /// newline, until one is longer than `limit`, which is refused (nil) and ends the reading; a
    /// last line without its newline is still a line.
    static func expectedFrames(_ stream: [UInt8], limit: Int) -> [[UInt8]?] {
        var frames: [[UInt8]?] = []
        var rest = stream[...]
        while let newline = rest.firstIndex(of: 0x0A) {
            let line = rest[..<newline]
            guard line.count <= limit else { return frames + [nil] }
            frames.append(Array(line))
            rest = rest[(newline + 1)...]
        }
        if rest.count > limit { frames.append(nil) } else if !rest.isEmpty { frames.append(Array(rest)) }
        return frames
    }

    private static func checkShortcutAgrees(_ bytes: [UInt8]) throws(FuzzFailure) {
        let shortcut = bytes.withUnsafeBytes { VerifyLineShortcut.match($0) }
        let parsed = bytes.withUnsafeBytes { raw in Result { () throws(RequestParseError) in try RequestEnvelope.parse(raw) } }
        guard let shortcut else { return }
        guard case .success(let envelope) = parsed, envelope.op == VerifyRequest.op,
            let request = try? VerifyRequest(fields: envelope.fields)
        else { throw FuzzFailure("the verify shortcut accepted a line the full parser refuses") }
        guard request.token == shortcut.token, envelope.id == shortcut.id, request.audience == nil,
            request.rolesAny == nil, request.rolesAll == nil
        else { throw FuzzFailure("the verify shortcut read a different request than the full parser") }
    }

    /// The fixed secret of ``token(_:)``'s daemon, so that corpus tokens stay valid forever.
    public static let tokenSecret = "authd-fuzz-secret-0123456789abcdef-0123456789"
    /// The fixed time of ``token(_:)``'s daemon.
    public static let tokenTime: Int64 = 1_800_000_000

    private static let tokens: TokenService = {
        var template = Array("/tmp/authd-fuzz-XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let secretPath = directory + "/hmac.key"
        let file = open(secretPath, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        _ = Array(tokenSecret.utf8).withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
        close(file)
        var configuration = TokenConfiguration()
        configuration.algorithm = .hs256
        configuration.hmacSecretFile = secretPath
        configuration.verifyCacheEntries = 64
        return try! TokenService(
            configuration: configuration, stateDirectory: directory + "/state", clock: ManualUnixClock(tokenTime),
            logger: Logger(label: "fuzz"))
    }()

    /// A token from ``token(_:)``'s daemon, for seeding the corpus.
    public static func seedToken(subject: String, roles: [String]) -> String {
        try! tokens.issuer.issue(IssueRequest(subject: subject, roles: roles)).accessToken
    }

    /// Whether `token` verifies at the harness's fixed time.
    public static func verifies(_ token: String) -> Bool {
        (try? tokens.verifier.verify(VerifyRequest(token: token))) != nil
    }

    /// The strict token verifier. Invariants: a refusal is one of the token codes (never an
    /// internal error), and a token verifies twice with the same answer (the second time from the
    /// cache).
    public static func token(_ data: [UInt8]) throws(FuzzFailure) {
        let token = String(decoding: data, as: UTF8.self)
        let allowed: Set<AuthdError.Code> = [.invalidToken, .tokenExpired, .tokenNotYetValid, .wrongAudience, .tokenRevoked, .insufficientRole]
        for request in [VerifyRequest(token: token), VerifyRequest(token: token, rolesAny: ["admin"])] {
            let first = Result { () throws(AuthdError) in try tokens.verifier.verify(request) }
            let second = Result { () throws(AuthdError) in try tokens.verifier.verify(request) }
            switch (first, second) {
            case (.success(let one), .success(let two)):
                guard one == two else { throw FuzzFailure("a cached verification answered differently") }
            case (.failure(let one), .failure(let two)):
                guard allowed.contains(one.code) else { throw FuzzFailure("verify refused with \(one.code)") }
                guard one.code == two.code else { throw FuzzFailure("verify refused with \(one.code), then \(two.code)") }
            default:
                throw FuzzFailure("the same token verified once and was refused once")
            }
        }
    }

    /// The configuration reader. Invariants: it answers with a configuration or a StartupError,
    /// and the same text always gives the same answer.
    public static func config(_ data: [UInt8]) throws(FuzzFailure) {
        let text = String(decoding: data, as: UTF8.self)
        let first = Result { () throws(StartupError) in try AuthdConfiguration(toml: text) }
        let second = Result { () throws(StartupError) in try AuthdConfiguration(toml: text) }
        switch (first, second) {
        case (.success(let one), .success(let two)):
            guard one == two else { throw FuzzFailure("the same text gave two configurations") }
        case (.failure(let one), .failure(let two)):
            guard one.message == two.message else { throw FuzzFailure("the same text was refused for two reasons") }
        default:
            throw FuzzFailure("the same text was accepted once and refused once")
        }
    }

    /// The HTTP face's head reader (``HTTPShortcutRequest``), against NIO's decoder. Invariant:
    /// whenever the reader takes a request from the input, NIO's decoder, given the same bytes,
    /// reads one request without a body and without an error, with the same method, target and
    /// header fields, on a connection kept alive. (The reader may refuse more than the decoder,
    /// never less: what it refuses goes to the decoder.) Returns whether the reader took a request.
    @discardableResult
    public static func httpHead(_ data: [UInt8]) throws(FuzzFailure) -> Bool {
        let read = HTTPShortcutRequest.read(ByteBuffer(bytes: data), maximumHeadBytes: 4096, maximumFields: 32)
        guard case .request(let request, let length) = read else { return false }
        guard length <= data.count else { throw FuzzFailure("a head of \(length) bytes read from \(data.count)") }
        let channel = EmbeddedChannel()
        var parts: [HTTPServerRequestPart] = []
        do {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            try channel.writeInbound(ByteBuffer(bytes: data[..<length]))
            while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
            _ = try channel.finish()
        } catch {
            throw FuzzFailure("NIO's decoder refused a head the shortcut read: \(error)")
        }
        guard parts.count == 2, case .head(let head) = parts[0], case .end(nil) = parts[1] else {
            throw FuzzFailure("NIO's decoder read \(parts) from a head the shortcut read as one request without a body")
        }
        let decoded = head.headers.map { ($0.name, $0.value) }
        let shortcut = request.fields.all
        guard head.method == request.method, head.uri == request.uri, head.version == .http1_1, head.isKeepAlive,
            decoded.count == shortcut.count, zip(decoded, shortcut).allSatisfy({ $0.0 == $1.name && $0.1 == $1.value })
        else {
            throw FuzzFailure("NIO's decoder read \(head), the shortcut \(request.method) \(request.uri) \(shortcut)")
        }
        return true
    }
}
