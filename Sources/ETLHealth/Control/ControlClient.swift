import ETLCore
import FoundationEssentials
import Glibc

/// The CLI side of the control socket.
public enum ControlClient {
    public enum ClientError: Error, Equatable, CustomStringConvertible {
        case notRunning(path: String)
        case permissionDenied(path: String)
        case timedOut(path: String)
        case io(String)

        public var description: String {
            switch self {
            case .notRunning(let p): return "spotifyd-etl is not running (no control socket at \(p))"
            case .permissionDenied(let p):
                return "permission denied on \(p): run as root, the service user, or a member of its group"
            case .timedOut(let p): return "spotifyd-etl did not answer on \(p) in time"
            case .io(let m): return m
            }
        }
    }

    /// The longest reply read. A status report is about 250 bytes per playlist: 25 MB for
    /// 100,000, ~95 MB for the ~370,000 the largest accepted config can list.
    static let maxReply = 256 << 20

    /// First pause before asking again after a busy refusal; it doubles up to `maxRetryPause`.
    static let firstRetryPause = 0.05
    static let maxRetryPause = 0.5

    /// Connects, sends one request line and returns the reply line, all within `timeout`
    /// (one deadline for the whole exchange, not per read).
    ///
    /// A busy refusal (every connection slot taken; the daemon read nothing) is retried with
    /// a short, growing pause until the deadline, so `status` during a flood of connections
    /// answers as soon as a slot frees; `timedOut` when none did in time.
    public static func send(_ request: ControlRequest, socketPath: String, timeout: TimeInterval = 10) throws -> ControlResponse {
        let end = DeadlineIO.now() + timeout
        var pause = firstRetryPause
        while true {
            if let response = try attempt(request, socketPath: socketPath, until: end) { return response }
            guard end - DeadlineIO.now() > pause else { throw ClientError.timedOut(path: socketPath) }
            sleepSeconds(pause)
            pause = min(pause * 2, maxRetryPause)
        }
    }

    /// One connection; nil when the daemon had no slot for it (a busy refusal, or connect(2)
    /// timing out on a full backlog), so asking again is safe.
    private static func attempt(_ request: ControlRequest, socketPath: String, until end: Double) throws -> ControlResponse? {
        var addr: sockaddr_un
        do { addr = try ControlServer.address(socketPath) } catch { throw ClientError.io("\(error)") }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError.io("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Bounds connect(2), which blocks while the daemon's backlog is full.
        ControlServer.setTimeouts(fd, seconds: end - DeadlineIO.now())
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 {
            let e = errno
            switch e {
            case ENOENT, ECONNREFUSED, ENOTDIR: throw ClientError.notRunning(path: socketPath)
            case EACCES, EPERM: throw ClientError.permissionDenied(path: socketPath)
            case EAGAIN, EINTR: return nil
            default: throw ClientError.io("connect \(socketPath): \(String(cString: strerror(e)))")
            }
        }
        // A daemon that refuses (busy, not permitted) answers and closes without reading, so
        // this write may fail with EPIPE; its answer is still there to read.
        let sent = DeadlineIO.sendAll(fd, Array((request.jsonLine() + "\n").utf8), until: end)
        let sendErrno = errno
        if sent { shutdown(fd, Int32(SHUT_WR)) }
        let line: String
        switch ControlServer.readLine(fd, max: maxReply, firstByteBy: end, by: end) {
        case .line(let l): line = l
        case .unterminated(let l):
            // The daemon ends every reply with a newline; without one it stopped writing it.
            throw ClientError.io("reply from spotifyd-etl on \(socketPath) was cut short after \(l.utf8.count) bytes (see the daemon's journal)")
        case .timedOut: throw ClientError.timedOut(path: socketPath)
        case .tooLong: throw ClientError.io("reply from spotifyd-etl on \(socketPath) is longer than \(maxReply >> 20) MiB")
        case .closed, .failed:
            if !sent { throw ClientError.io("write \(socketPath): \(String(cString: strerror(sendErrno)))") }
            throw ClientError.io("no reply from spotifyd-etl on \(socketPath)")
        }
        let response: ControlResponse
        do { response = try ControlResponse.decode(line: line) } catch { throw ClientError.io("\(error)") }
        return response.refusal == .busy ? nil : response
    }
}
