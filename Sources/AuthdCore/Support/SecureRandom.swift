/// Random bytes from the operating system's CSPRNG (`getrandom(2)` on Linux).
package func secureRandomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: count)
    var index = 0
    while index < count {
        var word = generator.next()
        let take = min(8, count - index)
        for offset in 0..<take {
            bytes[index + offset] = UInt8(truncatingIfNeeded: word)
            word >>= 8
        }
        index += take
    }
    return bytes
}
