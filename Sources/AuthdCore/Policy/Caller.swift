#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who is on the other end of a connection, as the kernel reported it at accept (`SO_PEERCRED`).
/// It is read once per connection and never re-derived from `/proc`.
public struct Caller: Sendable, Hashable, CustomStringConvertible {
    /// The peer's effective uid.
    public let uid: UInt32
    /// The peer's effective gid.
    public let gid: UInt32
    /// The peer's pid at connect time (for the audit trail only; pids are reused).
    public let pid: Int32
    /// The peer's groups: its gid plus the supplementary groups of its user in the user database.
    public let groups: Set<UInt32>

    /// A caller; `groups` gets `gid` added.
    public init(uid: UInt32, gid: UInt32, pid: Int32, groups: Set<UInt32> = []) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.groups = groups.union([gid])
    }

    /// The same caller with the supplementary groups of its uid from the user database.
    public func withSupplementaryGroups() -> Caller {
        Caller(uid: uid, gid: gid, pid: pid, groups: groups.union(UserDatabase.groups(ofUID: uid, primary: gid)))
    }

    public var description: String { "uid \(uid) gid \(gid) pid \(pid)" }
}

/// Look-ups in the system's user and group database.
enum UserDatabase {
    static func uid(ofUser name: String) -> UInt32? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.pw_uid
    }

    static func gid(ofGroup name: String) -> UInt32? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 65_536)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }

    static func groups(ofUID uid: UInt32, primary: UInt32) -> Set<UInt32> {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else {
            return [primary]
        }
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primary, &list, &count) < 0 {
            list = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, primary, &list, &count) >= 0 else { return [primary] }
        }
        return Set(list.prefix(Int(count)).map { UInt32($0) })
    }
}
