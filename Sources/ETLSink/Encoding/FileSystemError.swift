import ETLCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call on a local file, keeping the errno and the path so the operator sees
/// exactly what failed ("ENOSPC: disk full writing /var/spool/…") and the flusher can classify
/// it. Thrown by the spool writer and the gzip writer; `LocalSink` maps it to `SinkError`.
public struct FileSystemError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The failing call, e.g. "write", "open", "fsync", "rename".
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// Symbolic errno name ("ENOSPC"), used as the sink error code.
    public var code: String { FileSystemError.name(ofErrno: errno) }

    /// True for a full file system or exhausted quota.
    public var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }

    public var description: String {
        let reason = isDiskFull ? "disk full" : String(cString: strerror(errno))
        return "\(code): \(reason) (\(operation) \(path))"
    }

    /// The sink's classification: a full disk or an I/O hiccup is transient (retry with
    /// backoff, the batch stays in the outbox); permissions and read-only mounts need an
    /// operator (retry slowly, never drop).
    public var sinkError: SinkError {
        let kind: SinkError.Kind
        switch errno {
        case EACCES, EPERM, EROFS, ENOTDIR, EISDIR, ELOOP, ENAMETOOLONG: kind = .needsOperator
        default: kind = .transient
        }
        let reason = isDiskFull ? "disk full" : String(cString: strerror(errno))
        return SinkError(kind: kind, code: code, message: "\(reason): \(operation) \(path)")
    }

    static func name(ofErrno e: Int32) -> String {
        switch e {
        case ENOSPC: return "ENOSPC"
        case EDQUOT: return "EDQUOT"
        case EACCES: return "EACCES"
        case EPERM: return "EPERM"
        case EROFS: return "EROFS"
        case ENOENT: return "ENOENT"
        case EEXIST: return "EEXIST"
        case ENOTDIR: return "ENOTDIR"
        case EISDIR: return "EISDIR"
        case EIO: return "EIO"
        case EINTR: return "EINTR"
        case EAGAIN: return "EAGAIN"
        case EBADF: return "EBADF"
        case EFBIG: return "EFBIG"
        case EMFILE: return "EMFILE"
        case ENFILE: return "ENFILE"
        case ELOOP: return "ELOOP"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case EXDEV: return "EXDEV"
        case EINVAL: return "EINVAL"
        default: return "errno \(e)"
        }
    }
}
