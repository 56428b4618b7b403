import Glibc
import Logging

/// Unix stream socket for `spotifyd-etl status|poll|flush`: one JSON line in, one out.
///
/// Nobody can hold or flood it. Connections go through a `BoundedAcceptLoop`:
/// - **Cap.** At most `maxConnections` (16) are open at once. One more is answered
///   `ControlResponse.busy` (`"refused":"busy"`) and closed right at accept, its request unread.
/// - **Peer first.** The peer's credentials (SO_PEERCRED, `ControlAuthorization`) are checked
///   before anything is read: a refused peer gets `ControlResponse.permissionDenied` and the
///   close, and its request is never read.
/// - **Deadlines.** The first byte must arrive within `firstByteWithin` (1 s) of accept and the
///   whole request line within `deadline` (5 s); neither is per read, so trickling does not
///   extend them. Past either, the client gets a failure line and the close. The handler's
///   own time (a `flush`) is not bounded here.
/// - **Answer.** The reply goes out in pieces of about 64 KiB (`ControlResponse.writeJSONLine`),
///   each taken within `deadline` of being handed over. The time the daemon spends making the
///   next piece (a status of 100,000 playlists is read from SQLite as it is written) is not the
///   client's, so a slow daemon never cuts a reply; a client that stops reading for `deadline`
///   is cut, logged, and told nothing more: its `spotifyd-etl` names the reply as cut short.
///
/// Why `status` still answers during a flood: the `spotifyd-etl` client sends its request
/// as soon as it connects, and `ControlClient` retries a busy refusal (safe: nothing was read)
/// with a short backoff until its own timeout. An idle connection holds a slot for at most
/// `firstByteWithin`, a trickling one for at most `deadline`. So after a burst of, say, 100
/// idle connections, `status` answers about a second later, as soon as slots free up. A peer
/// that reopens connections faster than that can keep every slot taken. Only root, the
/// daemon's user and its group can connect at all, and each refusal run is logged once.
public final class ControlServer: Sendable {
    public typealias Handler = @Sendable (ControlRequest, PeerCredentials) -> ControlResponse

    public let path: String
    private let loop: BoundedAcceptLoop
    static let maxLine = 64 * 1024

    public init(path: String, logger: Logger = Logger(label: "spotifyd-etl.control"),
                daemonUID: UInt32 = getuid(), daemonGID: UInt32 = getgid(),
                maxConnections: Int = 16, deadline: Double = 5, firstByteWithin: Double = 1,
                handler: @escaping Handler) {
        self.path = path
        let gate = Gate(logger: logger, daemonUID: daemonUID, daemonGID: daemonGID, handler: handler)
        loop = BoundedAcceptLoop(name: "control socket", queueLabel: "spotifyd-etl.control",
                                 maxConnections: maxConnections, deadline: deadline, firstByteWithin: firstByteWithin,
                                 refusal: ControlResponse.busy(slots: maxConnections).jsonLineBytes(),
                                 logger: logger) { gate.serve($0) }
    }

    deinit { stop() }

    /// The accept loop's counters (for tests).
    var acceptStats: BoundedAcceptLoop.Stats { loop.stats }

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
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError.system("socket", errno) }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { let e = errno; close(fd); throw ServerError.system("bind \(path)", e) }
        guard chmod(path, 0o660) == 0 else { let e = errno; close(fd); throw ServerError.system("chmod \(path)", e) }
        // A deep backlog: a burst is accepted (and refused past the cap) quickly rather than
        // leaving clients blocked in connect(2).
        guard listen(fd, 128) == 0 else { let e = errno; close(fd); throw ServerError.system("listen", e) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        loop.start(listening: fd)
    }

    /// Stops accepting and removes the socket file.
    public func stop() {
        if loop.stop() { unlink(path) }
    }

    /// One connection, on the loop's connection queue: peer check, then the request, then the
    /// answer. Holds no reference to the server, so a server dropped while serving goes away.
    private struct Gate: Sendable {
        let logger: Logger
        let daemonUID: UInt32
        let daemonGID: UInt32
        let handler: Handler

        func serve(_ c: BoundedAcceptLoop.Connection) {
            let fd = c.fd
            // Who it is, before reading a byte: a refused peer's request is never read.
            guard let peer = ControlServer.peerCredentials(fd) else {
                answer(c, .failure("cannot identify peer"))
                return
            }
            let allowed = ControlAuthorization.isAllowed(
                peer: peer, daemonUID: daemonUID, daemonGID: daemonGID,
                peerSupplementaryGroups: peer.uid == 0 || peer.uid == daemonUID || peer.gid == daemonGID
                    ? [] : ControlAuthorization.peerSupplementaryGroups(fd: fd, uid: peer.uid))
            guard allowed else {
                logger.warning("control socket: refused peer", metadata: ["peer_uid": "\(peer.uid)", "peer_pid": "\(peer.pid)",
                                                                         "peer_gid": "\(peer.gid)"])
                answer(c, .permissionDenied)
                return
            }
            let response: ControlResponse
            switch ControlServer.readLine(fd, max: ControlServer.maxLine, firstByteBy: c.firstByteDeadline, by: c.requestDeadline) {
            case .line(let line), .unterminated(let line):
                do { response = handler(try ControlRequest.decode(line: line), peer) }
                catch { response = .failure("\(error)") }
            case .timedOut:
                response = .failure("no complete request line in time; send it all at once, right after connecting")
            case .closed:
                response = .failure("no request received")
            case .tooLong:
                response = .failure("request longer than \(ControlServer.maxLine) bytes")
            case .failed:
                return
            }
            answer(c, response)
        }

        /// Writes the reply, each piece within its own answer deadline, then ends the stream so
        /// the client reads the reply before the close. A reply cut short is logged.
        private func answer(_ c: BoundedAcceptLoop.Connection, _ response: ControlResponse) {
            var sent = 0
            let whole = response.writeJSONLine { piece in
                guard DeadlineIO.sendAll(c.fd, piece, until: c.answerDeadline()) else { return false }
                sent += piece.count
                return true
            }
            if !whole {
                logger.warning("control socket: reply cut short; the client took nothing for \(c.answerWindow) s or hung up",
                               metadata: ["sent_bytes": "\(sent)"])
            }
            _ = shutdown(c.fd, Int32(SHUT_WR))
        }
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
        let s = max(seconds, 0.001)
        var tv = timeval(tv_sec: Int(s), tv_usec: Int((s - Double(Int(s))) * 1_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// What `readLine` got.
    enum LineRead: Equatable {
        /// Up to the first newline (excluded).
        case line(String)
        /// Everything before EOF, when it came without a newline.
        case unterminated(String)
        /// EOF before any byte.
        case closed
        /// A deadline passed first.
        case timedOut
        /// More than the limit without a newline.
        case tooLong
        /// The socket failed (errno), e.g. ECONNRESET.
        case failed(Int32)
    }

    /// Reads up to the first newline (or EOF): the first byte by `first`, the rest by `end`.
    static func readLine(_ fd: Int32, max: Int, firstByteBy first: Double, by end: Double) -> LineRead {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while data.count <= max {
            switch DeadlineIO.receive(fd, into: &buf, until: data.isEmpty ? first : end) {
            case .bytes(let n):
                if let nl = buf[0..<n].firstIndex(of: 0x0A) {
                    data += buf[0..<nl]
                    return data.count <= max ? .line(String(decoding: data, as: UTF8.self)) : .tooLong
                }
                data += buf[0..<n]
            case .closed:
                return data.isEmpty ? .closed : .unterminated(String(decoding: data, as: UTF8.self))
            case .timedOut:
                return .timedOut
            case .failed(let e):
                return .failed(e)
            }
        }
        return .tooLong
    }
}
