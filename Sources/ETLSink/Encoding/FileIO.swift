#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin errno-preserving wrappers over the POSIX calls the spool writer and the local sink
/// need. Foundation's FileManager/FileHandle hide errno (and FileHandle.write traps on some
/// errors), but a full disk must surface as ENOSPC with a path, never as a crash.
public enum FileIO {
    /// Buffer size for copies and write batching: large enough for few syscalls, small enough
    /// to keep memory bounded (≤ 256 KiB, see the brief).
    static let bufferSize = 64 * 1024

    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        while true {
            let fd = Glibc_open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw FileSystemError(operation: "open", path: path, errno: errno)
        }
    }

    /// Writes all `count` bytes, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ base: UnsafeRawPointer?, _ count: Int, path: String) throws {
        guard var p = base, count > 0 else { return }
        var left = count
        while left > 0 {
            let n = write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "write", path: path, errno: errno)
            }
            if n == 0 { throw FileSystemError(operation: "write", path: path, errno: EIO) }
            left -= n
            p += n
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0.baseAddress, $0.count, path: path) }
    }

    /// Reads up to `count` bytes; 0 means end of file.
    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, path: String) throws -> Int {
        while true {
            let n = Glibc_read(fd, buffer, count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw FileSystemError(operation: "read", path: path, errno: errno)
        }
    }

    static func fsync(_ fd: Int32, path: String) throws {
        while Glibc_fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw FileSystemError(operation: "fsync", path: path, errno: errno)
        }
    }

    /// close(2) can report a deferred write error (NFS, some quotas): surface it.
    static func close(_ fd: Int32, path: String) throws {
        if Glibc_close(fd) != 0 && errno != EINTR {
            throw FileSystemError(operation: "close", path: path, errno: errno)
        }
    }

    /// Makes a rename or create in `directory` durable.
    static func fsyncDirectory(_ directory: String) throws {
        let fd = try open(directory, O_RDONLY | O_DIRECTORY)
        defer { _ = Glibc_close(fd) }
        try fsync(fd, path: directory)
    }

    static func rename(_ from: String, _ to: String) throws {
        if Glibc_rename(from, to) != 0 {
            throw FileSystemError(operation: "rename", path: to, errno: errno)
        }
    }

    static func unlinkQuietly(_ path: String) { _ = unlink(path) }

    /// Size of a regular file, or nil when it does not exist.
    static func fileSize(_ path: String) throws -> Int? {
        var st = stat()
        if stat(path, &st) != 0 {
            if errno == ENOENT { return nil }
            throw FileSystemError(operation: "stat", path: path, errno: errno)
        }
        return Int(st.st_size)
    }

    /// `mkdir -p`, fsyncing the parent of every directory it creates so the new path survives
    /// a power loss together with the file renamed into it.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        var missing: [String] = []
        var current = path
        while !current.isEmpty && current != "/" {
            var st = stat()
            if stat(current, &st) == 0 {
                if (st.st_mode & S_IFMT) != S_IFDIR {
                    throw FileSystemError(operation: "mkdir", path: current, errno: ENOTDIR)
                }
                break
            }
            if errno != ENOENT { throw FileSystemError(operation: "stat", path: current, errno: errno) }
            missing.append(current)
            current = parent(of: current)
        }
        for dir in missing.reversed() {
            if mkdir(dir, mode) != 0 && errno != EEXIST {
                throw FileSystemError(operation: "mkdir", path: dir, errno: errno)
            }
            try fsyncDirectory(parent(of: dir))
        }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}

// Unambiguous names for the libc calls that FileIO's own static methods shadow.
@inline(__always) private func Glibc_open(_ p: String, _ f: Int32, _ m: mode_t) -> Int32 { open(p, f, m) }
@inline(__always) private func Glibc_read(_ fd: Int32, _ b: UnsafeMutableRawPointer, _ n: Int) -> Int { read(fd, b, n) }
@inline(__always) private func Glibc_fsync(_ fd: Int32) -> Int32 { fsync(fd) }
@inline(__always) private func Glibc_close(_ fd: Int32) -> Int32 { close(fd) }
@inline(__always) private func Glibc_rename(_ a: String, _ b: String) -> Int32 { rename(a, b) }
