#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Random bytes from the operating system's CSPRNG, in one call (`arc4random_buf`: glibc's is
/// one `getrandom(2)`, and it aborts rather than return weak bytes) rather than
/// `SystemRandomNumberGenerator`'s call per 8 bytes: every token's `jti` is 16 of these.
package func secureRandomBytes(_ count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    #if canImport(Glibc) || canImport(Darwin)
    bytes.withUnsafeMutableBytes { buffer in
        if let base = buffer.baseAddress { arc4random_buf(base, count) }
    }
    #else
    // musl has no arc4random_buf: the standard library's generator.
    var generator = SystemRandomNumberGenerator()
    for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
    #endif
    return bytes
}
