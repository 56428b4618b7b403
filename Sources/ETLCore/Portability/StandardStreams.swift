import Glibc

/// Unbuffered writes to fd 1 and fd 2. Under systemd stdout is a pipe or socket and stdio
/// would block-buffer it; write(2) goes out at once and needs no flush.
public enum StandardStreams {
    public static func out(_ text: String) { write(fd: 1, bytes: Array(text.utf8)) }
    public static func err(_ text: String) { write(fd: 2, bytes: Array(text.utf8)) }

    public static func write(fd: Int32, bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }
}
