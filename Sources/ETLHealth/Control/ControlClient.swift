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

    /// Connects, sends one request line, waits up to `timeout` for the reply line.
    public static func send(_ request: ControlRequest, socketPath: String, timeout: TimeInterval = 10) throws -> ControlResponse {
        var addr: sockaddr_un
        do { addr = try ControlServer.address(socketPath) } catch { throw ClientError.io("\(error)") }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError.io("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        ControlServer.setTimeouts(fd, seconds: timeout)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 {
            switch errno {
            case ENOENT, ECONNREFUSED, ENOTDIR: throw ClientError.notRunning(path: socketPath)
            case EACCES, EPERM: throw ClientError.permissionDenied(path: socketPath)
            default: throw ClientError.io("connect \(socketPath): \(String(cString: strerror(errno)))")
            }
        }
        guard ControlServer.writeLine(fd, request.jsonLine()) else {
            throw ClientError.io("write \(socketPath): \(String(cString: strerror(errno)))")
        }
        shutdown(fd, Int32(SHUT_WR))
        guard let line = ControlServer.readLine(fd, max: 16 << 20) else {
            if errno == EAGAIN || errno == EWOULDBLOCK { throw ClientError.timedOut(path: socketPath) }
            throw ClientError.io("no reply from spotifyd-etl on \(socketPath)")
        }
        do { return try ControlResponse.decode(line: line) } catch { throw ClientError.io("\(error)") }
    }
}
