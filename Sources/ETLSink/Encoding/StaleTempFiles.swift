#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Removes the temp files a crashed run left behind. Every file this daemon writes atomically
/// (spool files, local-sink objects, dead letters) is first written as `<final>.tmp-<pid>`
/// and renamed; a kill between the two leaves the temp file for good.
///
/// Only names of exactly that form are touched, and only when the pid is not a live process
/// other than this one: at start nothing of this process is in flight, and a pid that another
/// live process holds may be a second daemon sharing a sink directory. The walk never follows
/// a symbolic link (directories are opened with `O_NOFOLLOW`, entries are `lstat`ed) and
/// removes only regular files, so a link planted under a matching name removes nothing it
/// points to. Depth is bounded; unreadable directories are skipped.
public enum StaleTempFiles {
    /// Removes stale temp files under `directory` (recursively, to `maxDepth` levels of
    /// subdirectories). Returns how many were removed. A missing directory removes nothing.
    @discardableResult
    public static func sweep(_ directory: String, maxDepth: Int = 8) -> Int {
        sweep(directory, depth: maxDepth, ownPID: getpid())
    }

    /// The pid in a temp file name `<something>.tmp-<digits>`, or nil for any other name.
    static func pid(inName name: String) -> Int32? {
        guard let dash = name.lastIndex(of: "-") else { return nil }
        let head = name[..<dash], digits = name[name.index(after: dash)...]
        guard head.hasSuffix(".tmp"), head.count > 4 else { return nil }
        guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int32(digits)
    }

    /// True when the pid names a process that is alive and not this one (its temp file may
    /// be in use). `kill(pid, 0)` answering EPERM means alive under another user.
    static func isLiveOther(_ pid: Int32, ownPID: Int32) -> Bool {
        guard pid != ownPID, pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno != ESRCH
    }

    private static func sweep(_ directory: String, depth: Int, ownPID: Int32) -> Int {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0, let dir = fdopendir(fd) else {
            if fd >= 0 { close(fd) }
            return 0
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        var removed = 0
        for name in names {
            let path = directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                if depth > 0 { removed += sweep(path, depth: depth - 1, ownPID: ownPID) }
            case S_IFREG:
                guard let pid = pid(inName: name), !isLiveOther(pid, ownPID: ownPID) else { continue }
                if unlink(path) == 0 { removed += 1 }
            default:
                continue
            }
        }
        return removed
    }
}
