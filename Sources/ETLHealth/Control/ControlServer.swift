import ETLCore
import FoundationEssentials
import Dispatch
import Glibc
import Logging
import Synchronization

/// Unix stream socket for `spotifyd-etl status|poll|flush`: one JSON line in, one out.
/// Accepts on a DispatchSource; each connection is served on a concurrent queue with
/// read/write timeouts so a silent client cannot hold a worker.
public final class ControlServer: Sendable {
    public typealias Handler = @Sendable (ControlRequest, PeerCredentials) -> ControlResponse

    public let path: String
    private let handler: Handler
    private let logger: Logger
    private let daemonUID: UInt32
    private let daemonGID: UInt32
    /// The accept source while serving; cancelling it closes the listening socket.
    private let source = Guarded<DispatchSourceRead?>(nil)
    private let acceptQueue = DispatchQueue(label: "spotifyd-etl.control.accept")
    private let workQueue = DispatchQueue(label: "spotifyd-etl.control.conn", attributes: .concurrent)
    static let maxLine = 64 * 1024

    public init(path: String, logger: Logger = Logger(label: "spotifyd-etl.control"),
                daemonUID: UInt32 = getuid(), daemonGID: UInt32 = getgid(), handler: @escaping Handler) {
        self.path = path
        self.logger = logger
        self.daemonUID = daemonUID
        self.daemonGID = daemonGID
        self.handler = handler
    }

    deinit { stop() }

    public enum ServerError: Error, CustomStringConvertible, Equatable {
        case pathTooLong(String)
        case alreadyRunning(String)
        case system(String, Int32)

        public var description: String {
            switch self {
            case .pathTooLong(let p): return "control socket path too long: \(p)"
            case .alreadyRunning(let p): return "another spotifyd-etl is already serving \(p)"
            case .system(let what, let e): return "\(what): \(String(cString: strerror(e)))"
            }
        }
    }

    /// Binds (replacing a stale socket left by a crash, refusing a live one), chmod 0660,
    /// listens, and starts accepting.
    public func start() throws {
        var addr = try Self.address(path)
        if Self.isLive(path) { throw ServerError.alreadyRunning(path) }
        var st = stat()
        if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError.system("socket", errno) }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { let e = errno; close(fd); throw ServerError.system("bind \(path)", e) }
        guard chmod(path, 0o660) == 0 else { let e = errno; close(fd); throw ServerError.system("chmod \(path)", e) }
        guard listen(fd, 16) == 0 else { let e = errno; close(fd); throw ServerError.system("listen", e) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        // Dispatch sources are not Sendable: made, started and cancelled only under the lock.
        source.withLock { current in
            current?.cancel()
            let src = DispatchSource.makeReadSource(fileDescriptor: fd, queue: acceptQueue)
            src.setEventHandler { [weak self] in self?.acceptPending(fd) }
            src.setCancelHandler { close(fd) }
            src.resume()
            current = src
        }
    }

    /// Stops accepting and removes the socket file.
    public func stop() {
        let wasServing = source.withLock { current in
            guard let src = current else { return false }
            src.cancel()
            current = nil
            return true
        }
        if wasServing { unlink(path) }
    }

    /// Runs on `acceptQueue` only, before the source's cancel handler closes `listenFD`.
    private func acceptPending(_ listenFD: Int32) {
        while true {
            let c = accept(listenFD, nil, nil)
            if c < 0 { return }  // EAGAIN: drained
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            workQueue.async { [self] in serve(c) }
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        Self.setTimeouts(fd, seconds: 5)
        // Read the request before answering, even when refusing: replying and closing while
        // the client is still sending would give it EPIPE instead of a readable refusal.
        let line = Self.readLine(fd, max: Self.maxLine)
        guard let peer = Self.peerCredentials(fd) else {
            _ = Self.writeLine(fd, ControlResponse.failure("cannot identify peer").jsonLine())
            return
        }
        let allowed = ControlAuthorization.isAllowed(
            peer: peer, daemonUID: daemonUID, daemonGID: daemonGID,
            peerSupplementaryGroups: peer.uid == 0 || peer.uid == daemonUID || peer.gid == daemonGID
                ? [] : ControlAuthorization.peerSupplementaryGroups(fd: fd, uid: peer.uid))
        guard allowed else {
            logger.warning("control socket: refused peer", metadata: ["peer_uid": "\(peer.uid)", "peer_pid": "\(peer.pid)",
                                                                     "peer_gid": "\(peer.gid)"])
            _ = Self.writeLine(fd, ControlResponse.permissionDenied.jsonLine())
            return
        }
        let response: ControlResponse
        switch line {
        case .none:
            response = .failure("no request received")
        case .some(let line):
            do { response = handler(try ControlRequest.decode(line: line), peer) }
            catch { response = .failure("\(error)") }
        }
        _ = Self.writeLine(fd, response.jsonLine())
    }

    // MARK: socket helpers shared with the client

    static func address(_ path: String) throws -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let cap = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < cap else { throw ServerError.pathTooLong(path) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return addr
    }

    /// True when something accepts connections at `path` (so it is not stale).
    static func isLive(_ path: String) -> Bool {
        guard var addr = try? address(path) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return r == 0
    }

    static func peerCredentials(_ fd: Int32) -> PeerCredentials? {
        // struct ucred {pid_t pid; uid_t uid; gid_t gid;} — three 32-bit fields; Glibc hides
        // the type behind _GNU_SOURCE, so read it as raw words.
        var cred: [UInt32] = [0, 0, 0]
        var len = socklen_t(12)
        let r = cred.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, SO_PEERCRED, $0.baseAddress, &len) }
        guard r == 0, len == 12 else { return nil }
        return PeerCredentials(pid: Int32(bitPattern: cred[0]), uid: cred[1], gid: cred[2])
    }

    static func setTimeouts(_ fd: Int32, seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Reads up to the first newline (or EOF). Nil on timeout/error/empty or over `max` bytes.
    static func readLine(_ fd: Int32, max: Int) -> String? {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while data.count <= max {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            if let nl = buf[0..<n].firstIndex(of: 0x0A) { data += buf[0..<nl]; return String(decoding: data, as: UTF8.self) }
            data += buf[0..<n]
        }
        guard !data.isEmpty, data.count <= max else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes the line plus newline; false when the peer is gone.
    static func writeLine(_ fd: Int32, _ line: String) -> Bool {
        let bytes = Array((line + "\n").utf8)
        var off = 0
        while off < bytes.count {
            // MSG_NOSIGNAL: a peer that hung up must yield EPIPE, not kill the daemon with SIGPIPE.
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; return false }
            off += n
        }
        return true
    }
}
