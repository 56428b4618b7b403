import Foundation

/// A real AF_UNIX datagram socket bound in a temp dir, standing in for systemd's notify
/// socket. Sets NOTIFY_SOCKET for this process while alive (libsystemd reads it per call).
final class NotifyReceiver {
    let dir: String
    let path: String
    let fd: Int32

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/etl-notify-XXXXXX").utf8CString)
        guard let d = mkdtemp(&template) else { throw POSIXError(.EIO) }
        dir = String(cString: d)
        path = dir + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in raw.copyBytes(from: bytes); raw[bytes.count] = 0 }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { throw POSIXError(.EADDRINUSE) }
        setenv("NOTIFY_SOCKET", path, 1)
    }

    deinit {
        unsetenv("NOTIFY_SOCKET")
        close(fd)
        unlink(path)
        rmdir(dir)
    }

    /// Next datagram within `timeout` seconds, or nil.
    func receive(timeout: Double) -> String? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n], as: UTF8.self)
    }

    /// All datagrams arriving within `window` seconds.
    func collect(for window: Double) -> [String] {
        var out: [String] = []
        let end = Date().addingTimeInterval(window)
        while true {
            let left = end.timeIntervalSinceNow
            if left <= 0 { break }
            if let m = receive(timeout: left) { out.append(m) }
        }
        return out
    }

    /// All datagrams arriving within `window` seconds, each with its arrival time.
    func collectTimed(for window: Double) -> [(Date, String)] {
        var out: [(Date, String)] = []
        let end = Date().addingTimeInterval(window)
        while true {
            let left = end.timeIntervalSinceNow
            if left <= 0 { break }
            if let m = receive(timeout: left) { out.append((Date(), m)) }
        }
        return out
    }

    func drain() { while receive(timeout: 0) != nil {} }
}
