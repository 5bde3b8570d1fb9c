#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Random bytes from the operating system's CSPRNG, in one call (`arc4random_buf`: glibc's is
/// one `getrandom(2)`) rather than `SystemRandomNumberGenerator`'s call per 8 bytes: every
/// token's `jti` is 16 of these.
package func secureRandomBytes(_ count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { buffer in
        if let base = buffer.baseAddress { arc4random_buf(base, count) }
    }
    return bytes
}
