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
        let count = text.count
        guard count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for character in text {
            let value = decodeTable[Int(character)]
            guard value != 0xFF else { return nil }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero, or two spellings would decode to the same bytes.
        guard buffer & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return output
    }

    /// Decodes canonical unpadded base64url from a string, or returns `nil`.
    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }
}
