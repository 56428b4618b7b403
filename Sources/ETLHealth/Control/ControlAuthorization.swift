import FoundationEssentials
import Glibc

/// The connecting process as the kernel reports it (SO_PEERCRED): not forgeable by the peer.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    public init(pid: Int32, uid: UInt32, gid: UInt32) { self.pid = pid; self.uid = uid; self.gid = gid }
}

/// Who may use the control socket. The exact rule:
///  1. uid 0 (root), or
///  2. the daemon's own uid, or
///  3. a member of the daemon's primary group: the peer's primary gid (from SO_PEERCRED)
///     equals the daemon's gid, or the daemon's gid is among the peer's supplementary groups
///     (`peerSupplementaryGroups(fd:uid:)`: the kernel's SO_PEERGROUPS, plus `getgrouplist(3)`
///     on the peer uid's passwd entry).
/// Everyone else is refused. The socket file mode (0660) is a first gate enforced by the
/// kernel at connect(2); this check is the second, so a looser mode cannot open it up.
public enum ControlAuthorization {
    public static func isAllowed(peer: PeerCredentials, daemonUID: UInt32, daemonGID: UInt32,
                                 peerSupplementaryGroups: [UInt32]) -> Bool {
        if peer.uid == 0 || peer.uid == daemonUID { return true }
        if peer.gid == daemonGID { return true }
        return peerSupplementaryGroups.contains(daemonGID)
    }

    /// The peer's supplementary groups as the server should see them: the kernel's record of
    /// the connecting process (SO_PEERGROUPS) together with `supplementaryGroups(uid:)`.
    ///
    /// SO_PEERGROUPS is what makes group membership work under the unit's `PrivateUsers=yes`:
    /// the daemon's user namespace maps only root, its own uid and its own gid, so SO_PEERCRED
    /// reports an operator (primary group their own) as the overflow uid/gid 65534 and
    /// `getgrouplist` of that uid finds nothing; SO_PEERGROUPS translates each of the peer's
    /// groups into this namespace, and the daemon's gid, being mapped, comes through as itself.
    public static func peerSupplementaryGroups(fd: Int32, uid: UInt32) -> [UInt32] {
        var groups = peerGroups(fd: fd) ?? []
        for g in supplementaryGroups(uid: uid) where !groups.contains(g) { groups.append(g) }
        return groups
    }

    /// The supplementary groups of the process at the other end of a connected Unix socket,
    /// recorded by the kernel at connect(2) (SO_PEERGROUPS, Linux 4.13); nil when unavailable.
    /// Groups not mapped into this process's user namespace read as the overflow gid.
    public static func peerGroups(fd: Int32) -> [UInt32]? {
        let soPeerGroups: Int32 = 59  // <asm-generic/socket.h>; not exported by Glibc's module
        var groups = [gid_t](repeating: 0, count: 64)
        for _ in 0..<2 {
            var len = socklen_t(groups.count * MemoryLayout<gid_t>.size)
            let r = groups.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, soPeerGroups, $0.baseAddress, &len) }
            if r == 0 { return groups.prefix(Int(len) / MemoryLayout<gid_t>.size).map { UInt32($0) } }
            // ERANGE: the kernel wrote the size it needs into len.
            guard errno == ERANGE, Int(len) > groups.count * MemoryLayout<gid_t>.size else { return nil }
            groups = [gid_t](repeating: 0, count: Int(len) / MemoryLayout<gid_t>.size)
        }
        return nil
    }

    /// Supplementary groups of the user owning `uid` (empty when it has no passwd entry).
    public static func supplementaryGroups(uid: UInt32) -> [UInt32] {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buf = [CChar](repeating: 0, count: 16384)
        guard getpwuid_r(uid, &pwd, &buf, buf.count, &result) == 0, result != nil, let name = pwd.pw_name else { return [] }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, pwd.pw_gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, pwd.pw_gid, &groups, &count) >= 0 else { return [] }
        }
        return Array(groups.prefix(Int(count))).map { UInt32($0) }
    }
}
