/// Base64url without padding (RFC 4648 §5), as JOSE uses it.
///
/// Decoding is canonical: one token has exactly one accepted spelling. Padding, the standard
/// alphabet's `+` and `/`, white space, a length that leaves a dangling character, and non-zero
/// trailing bits are all refused, because lenient decoders let an attacker re-encode a token into
/// a different string that still verifies.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Each byte's 6-bit value, or 0xFF for a byte outside the alphabet.
    static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// The unpadded base64url encoding of `bytes`.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let input = bytes as? [UInt8] ?? Array(bytes)
        let remainder = input.count % 3
        let outputCount = input.count / 3 * 4 + (remainder == 0 ? 0 : remainder + 1)
        // Three bytes at a time into four characters, written straight into the string's storage:
        // `issue` encodes every token's payload and signature with this.
        return String(unsafeUninitializedCapacity: outputCount) { output in
            alphabet.withUnsafeBufferPointer { table in
                input.withUnsafeBufferPointer { source in
                    var inIndex = 0
                    var outIndex = 0
                    func emit(_ value: UInt32, shift: UInt32) {
                        output[outIndex] = table[Int((value >> shift) & 0x3F)]
                        outIndex += 1
                    }
                    while inIndex + 3 <= source.count {
                        let group = UInt32(source[inIndex]) << 16 | UInt32(source[inIndex + 1]) << 8 | UInt32(source[inIndex + 2])
                        emit(group, shift: 18)
                        emit(group, shift: 12)
                        emit(group, shift: 6)
                        emit(group, shift: 0)
                        inIndex += 3
                    }
                    if remainder == 1 {
                        let group = UInt32(source[inIndex]) << 16
                        emit(group, shift: 18)
                        emit(group, shift: 12)
                    } else if remainder == 2 {
                        let group = UInt32(source[inIndex]) << 16 | UInt32(source[inIndex + 1]) << 8
                        emit(group, shift: 18)
                        emit(group, shift: 12)
                        emit(group, shift: 6)
                    }
                }
            }
            return outputCount
        }
    }

    /// Decodes canonical unpadded base64url, or returns `nil`.
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        if let decoded = text.withContiguousStorageIfAvailable({ decode(contiguous: $0) }) {
            return decoded
        }
        return Array(text).withUnsafeBufferPointer { decode(contiguous: $0) }
    }

    /// Four characters at a time into three bytes: a cold `verify` decodes a token's header and
    /// claims with this, and a character at a time cost about fifty instructions each. A value
    /// outside the alphabet (0xFF in the table) is remembered by OR-ing every value together,
    /// since only it sets the top two bits, and the bytes written meanwhile are thrown away.
    private static func decode(contiguous input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let count = input.count
        let remainder = count % 4
        guard remainder != 1 else { return nil }
        let outputCount = count / 4 * 3 + (remainder == 0 ? 0 : remainder - 1)
        var canonical = false
        let output = [UInt8](unsafeUninitializedCapacity: outputCount) { output, initialized in
            decodeTable.withUnsafeBufferPointer { table in
                var seen: UInt8 = 0
                var inIndex = 0
                var outIndex = 0
                while inIndex + 4 <= count {
                    let a = table[Int(input[inIndex])], b = table[Int(input[inIndex + 1])]
                    let c = table[Int(input[inIndex + 2])], d = table[Int(input[inIndex + 3])]
                    seen |= a | b | c | d
                    let group = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    output[outIndex] = UInt8(truncatingIfNeeded: group >> 16)
                    output[outIndex + 1] = UInt8(truncatingIfNeeded: group >> 8)
                    output[outIndex + 2] = UInt8(truncatingIfNeeded: group)
                    inIndex += 4
                    outIndex += 3
                }
                // The last group's unused low bits must be zero, or two spellings would decode to
                // the same bytes.
                var leftover: UInt8 = 0
                if remainder == 2 {
                    let a = table[Int(input[inIndex])], b = table[Int(input[inIndex + 1])]
                    seen |= a | b
                    output[outIndex] = a << 2 | b >> 4
                    leftover = b & 0x0F
                } else if remainder == 3 {
                    let a = table[Int(input[inIndex])], b = table[Int(input[inIndex + 1])], c = table[Int(input[inIndex + 2])]
                    seen |= a | b | c
                    output[outIndex] = a << 2 | b >> 4
                    output[outIndex + 1] = b << 4 | c >> 2
                    leftover = c & 0x03
                }
                canonical = seen & 0xC0 == 0 && leftover == 0
            }
            initialized = outputCount
        }
        return canonical ? output : nil
    }

    /// Decodes canonical unpadded base64url from a string, or returns `nil`.
    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }
}
