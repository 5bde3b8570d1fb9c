import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The ceiling for authd's cold `verify`: bare swift-crypto Ed25519 signature checks of a
/// token-sized message, on as many threads as there are cores, with nothing else around them.
/// `make bench-compare` prints authd's cold verify rate as a fraction of this.
///
/// Usage: authd-crypto-baseline [SECONDS] [THREADS] — prints `{"ops_per_s": N, "threads": T}`.
@main
enum CryptoBaseline {
    static func main() throws {
        let arguments = CommandLine.arguments
        let seconds = arguments.count > 1 ? Double(arguments[1]) ?? 3 : 3
        let threadCount = arguments.count > 2 ? Int(arguments[2]) ?? 2 : Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let key = Curve25519.Signing.PrivateKey()
        // The size of a typical authd token's signing input.
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 300)
        let signature = Array(try key.signature(for: message))
        let workers = (0..<threadCount).map { _ in
            Worker(publicKey: key.publicKey, signature: signature, message: message, deadline: monotonicSeconds() + seconds)
        }
        let threads = workers.map { worker in Thread { worker.run() } }
        for thread in threads { thread.start() }
        for worker in workers { worker.done.wait() }
        let total = workers.reduce(0) { $0 + $1.count }
        print(#"{"ops_per_s": \#(Int(Double(total) / seconds)), "threads": \#(threadCount)}"#)
    }
}

/// One thread's share: verify until the deadline, counting.
final class Worker: @unchecked Sendable {
    let publicKey: Curve25519.Signing.PublicKey
    let signature: [UInt8]
    let message: [UInt8]
    let deadline: Double
    let done = DispatchSemaphore(value: 0)
    private(set) var count = 0

    init(publicKey: Curve25519.Signing.PublicKey, signature: [UInt8], message: [UInt8], deadline: Double) {
        self.publicKey = publicKey
        self.signature = signature
        self.message = message
        self.deadline = deadline
    }

    func run() {
        while monotonicSeconds() < deadline {
            for _ in 0..<256 where publicKey.isValidSignature(signature, for: message) { count += 1 }
        }
        done.signal()
    }
}

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
