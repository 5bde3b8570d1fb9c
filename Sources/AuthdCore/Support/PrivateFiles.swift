#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A refusal to start: unsafe files, an invalid configuration, a key that cannot be read.
///
/// The message names the file or key at fault and says what to do about it.
public struct StartupError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and how to fix it.
    public let message: String

    /// A startup error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// File operations for secrets: refuse anything another user could read or swap, and write so that
/// a crash leaves either the old file or the complete new one.
package enum PrivateFiles {
    private static func describe(errno code: Int32) -> String { String(cString: strerror(code)) }

    private static func octal(_ mode: mode_t) -> String { "0" + String(mode & 0o7777, radix: 8) }

    /// Creates `path` (and missing parents) with mode 0700, or checks that the existing directory
    /// is a real directory, owned by us, that group and others cannot enter.
    package static func preparePrivateDirectory(_ path: String) throws(StartupError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else { throw StartupError("cannot inspect \(path): \(describe(errno: errno))") }
            try makeDirectories(path)
            return
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw StartupError("\(path) is not a directory (a symlink or a file is refused for state)")
        }
        guard info.st_uid == geteuid() else {
            throw StartupError("\(path) is owned by uid \(info.st_uid), not by authd's uid \(geteuid()); chown it")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw StartupError(
                "\(path) has mode \(octal(info.st_mode)): group and others must have no access; run chmod 700 \(path)")
        }
    }

    private static func makeDirectories(_ path: String) throws(StartupError) {
        let parent = parentDirectory(of: path)
        if parent != path, access(parent, F_OK) != 0 {
            // Parents are created private too: nothing here should be browsable.
            try makeDirectories(parent)
        }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw StartupError("cannot create directory \(path): \(describe(errno: errno))")
        }
    }

    package static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Reads a secret file, refusing a symlink, a non-regular file, or one readable or writable by
    /// group or others.
    package static func readPrivateFile(_ path: String, maximumSize: Int = 1 << 20) throws(StartupError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ELOOP { throw StartupError("\(path) is a symlink; key files must be regular files") }
            throw StartupError("cannot open \(path): \(describe(errno: errno))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw StartupError("cannot inspect \(path): \(describe(errno: errno))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw StartupError("\(path) is not a regular file") }
        guard info.st_mode & 0o077 == 0 else {
            throw StartupError(
                "\(path) has mode \(octal(info.st_mode)): a key file must not be accessible by group or others; run chmod 600 \(path)"
            )
        }
        guard Int(info.st_size) <= maximumSize else { throw StartupError("\(path) is larger than \(maximumSize) bytes") }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw StartupError("cannot read \(path): \(describe(errno: errno))")
            }
            if count == 0 { break }
            contents.append(contentsOf: chunk[0..<count])
            guard contents.count <= maximumSize else { throw StartupError("\(path) is larger than \(maximumSize) bytes") }
        }
        return contents
    }

    /// Writes `bytes` to `path` with mode 0600 through a temporary file, `fsync` and `rename`, then
    /// syncs the directory, so the new file is complete and durable once this returns.
    package static func writePrivateFileAtomically(_ path: String, _ bytes: [UInt8]) throws(StartupError) {
        let temporary = path + ".tmp-" + Base64URL.encode(secureRandomBytes(6))
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StartupError("cannot create \(temporary): \(describe(errno: errno))") }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(descriptor)
                unlink(temporary)
                throw StartupError("cannot write \(temporary): \(describe(errno: code))")
            }
            written += count
        }
        guard fsync(descriptor) == 0 else {
            let code = errno
            close(descriptor)
            unlink(temporary)
            throw StartupError("cannot sync \(temporary): \(describe(errno: code))")
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw StartupError("cannot rename \(temporary) to \(path): \(describe(errno: code))")
        }
        try syncDirectory(parentDirectory(of: path))
    }

    /// Makes a directory's entries (a rename, an unlink) durable.
    package static func syncDirectory(_ path: String) throws(StartupError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StartupError("cannot open directory \(path): \(describe(errno: errno))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw StartupError("cannot sync directory \(path): \(describe(errno: errno))") }
    }

    /// The names in a directory, without `.` and `..`.
    package static func directoryEntries(_ path: String) throws(StartupError) -> [String] {
        guard let directory = opendir(path) else { throw StartupError("cannot list \(path): \(describe(errno: errno))") }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Removes a file and makes the removal durable.
    package static func remove(_ path: String) throws(StartupError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw StartupError("cannot remove \(path): \(describe(errno: errno))") }
        try syncDirectory(parentDirectory(of: path))
    }
}
