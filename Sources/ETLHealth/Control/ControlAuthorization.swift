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
///     equals the daemon's gid, or the daemon's gid is among the supplementary groups of
///     the peer uid's user (from `getgrouplist(3)` on its passwd entry).
/// Everyone else is refused. The socket file mode (0660) is a first gate enforced by the
/// kernel at connect(2); this check is the second, so a looser mode cannot open it up.
public enum ControlAuthorization {
    public static func isAllowed(peer: PeerCredentials, daemonUID: UInt32, daemonGID: UInt32,
                                 peerSupplementaryGroups: [UInt32]) -> Bool {
        if peer.uid == 0 || peer.uid == daemonUID { return true }
        if peer.gid == daemonGID { return true }
        return peerSupplementaryGroups.contains(daemonGID)
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
