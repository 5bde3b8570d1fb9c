#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// One authd per state directory: an exclusive `flock` on `authd.lock` in it, held for as long as
/// the daemon runs, naming its holder (pid and socket) so that a second daemon says who is in the
/// way instead of failing later with SQLite's "database is locked".
///
/// The kernel drops the lock when the holder exits, however it exits, so a crash leaves no stale
/// lock behind.
public final class StateDirectoryLock: Sendable {
    /// The lock file's name inside the state directory.
    public static let fileName = "authd.lock"

    private let descriptor: Mutex<Int32>

    /// Creates the state directory if needed (private, as for keys) and takes its lock.
    ///
    /// - Parameter holder: who takes it, written into the lock file for the next one to read
    ///   (the socket path: with the pid, enough to find the other daemon).
    /// - Throws: ``StartupError`` naming the daemon that holds the lock, or why it could not be taken.
    public init(stateDirectory: String, holder: String) throws(StartupError) {
        try PrivateFiles.preparePrivateDirectory(stateDirectory)
        let path = stateDirectory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StartupError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let owner = Self.readHolder(fd)
            close(fd)
            guard code == EWOULDBLOCK else {
                throw StartupError("cannot lock \(path): \(String(cString: strerror(code)))")
            }
            throw StartupError(
                "another authd (\(owner ?? "pid unknown")) is using the state directory \(stateDirectory); "
                    + "stop it first ('systemctl stop authd', or end the other 'make run'), "
                    + "or give this one its own --state-dir")
        }
        let line = Array("pid \(getpid()), socket \(holder)\n".utf8)
        // The holder line is a courtesy for the next reader; the flock is what excludes.
        _ = ftruncate(fd, 0)
        _ = line.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = Mutex(fd)
    }

    /// Releases the lock now (the daemon has stopped); later calls do nothing.
    public func release() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            close(fd)
            fd = -1
        }
    }

    deinit { release() }

    private static func readHolder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self)
        let line = text.split(separator: "\n").first.map(String.init) ?? ""
        return line.isEmpty ? nil : line
    }
}
