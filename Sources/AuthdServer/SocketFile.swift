#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AuthdCore

/// Getting a socket path ready to bind.
enum SocketFile {
    /// Removes a stale socket file at `path`, but refuses to start if a server is still listening
    /// there or if the path is something other than a socket: two daemons must never share a path,
    /// and a regular file of the operator's must never be deleted.
    static func prepare(path: String) throws(StartupError) {
        let parent = PrivateFiles.parentDirectory(of: path)
        if access(parent, F_OK) != 0 {
            guard mkdir(parent, 0o755) == 0 || errno == EEXIST else {
                throw StartupError("cannot create socket directory \(parent): \(String(cString: strerror(errno)))")
            }
        }
        var directory = stat()
        guard stat(parent, &directory) == 0 else {
            throw StartupError("cannot inspect socket directory \(parent): \(String(cString: strerror(errno)))")
        }
        // Anyone could delete or replace the socket in a world-writable directory without the
        // sticky bit, and have clients talk to their own server instead.
        if directory.st_mode & S_IWOTH != 0, directory.st_mode & S_ISVTX == 0 {
            throw StartupError("socket directory \(parent) is writable by anyone and has no sticky bit; refusing to bind there")
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw StartupError("\(path) exists and is not a socket; refusing to replace it")
        }
        if isListening(path) {
            throw StartupError("another server is already listening on \(path)")
        }
        guard unlink(path) == 0 else {
            throw StartupError("cannot remove stale socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func isListening(_ path: String) -> Bool {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }

    /// Sets the socket's mode: owner and group may connect, others may not.
    static func restrict(path: String, mode: mode_t) throws(StartupError) {
        guard chmod(path, mode) == 0 else {
            throw StartupError("cannot set the mode of \(path): \(String(cString: strerror(errno)))")
        }
    }
}

extension SocketFile {
    /// The socket file this server bound, remembered so that only that file is removed at exit,
    /// never one a newer instance has bound in the meantime.
    struct Identity {
        let path: String
        let device: UInt64
        let inode: UInt64

        init?(path address: ListenAddress) {
            guard case .path(let path) = address.kind else { return nil }
            var info = stat()
            guard lstat(path, &info) == 0 else { return nil }
            self.path = path
            self.device = UInt64(info.st_dev)
            self.inode = UInt64(info.st_ino)
        }

        func removeIfUnchanged() {
            var info = stat()
            guard lstat(path, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode else { return }
            unlink(path)
        }
    }
}
