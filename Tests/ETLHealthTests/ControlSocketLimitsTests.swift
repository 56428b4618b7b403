import ETLCore
import Foundation
import Logging
import XCTest
@testable import ETLHealth

/// The lowest free descriptor number once no other thread is still closing descriptors (the
/// listening socket of a server stopped just before closes asynchronously). With the soft
/// RLIMIT_NOFILE there, no new descriptor can be made, unless one below it is closed later.
func settledLowestFreeDescriptor() -> Int32 {
    func lowest() -> Int32 { let fd = dup(0); close(fd); return fd }
    var last = lowest()
    for _ in 0..<40 {
        usleep(50_000)
        let now = lowest()
        if now == last { return now }
        last = now
    }
    return last
}

/// The control socket cannot be held or flooded: the real `ControlServer` and `ControlClient`
/// over a real Unix socket, with raw sockets playing the hostile clients.
final class ControlSocketLimitsTests: XCTestCase {
    var dir = ""
    /// How many requests reached the handler.
    let handled = Guarded(0)

    override func setUpWithError() throws {
        var template = Array((NSTemporaryDirectory() + "/etl-ctl-XXXXXX").utf8CString)
        dir = String(cString: try XCTUnwrap(mkdtemp(&template)))
        handled.withLock { $0 = 0 }
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func makeServer(capture: LogCapture = LogCapture(), maxConnections: Int = 16, deadline: Double = 5,
                            firstByteWithin: Double = 1, daemonUID: UInt32 = getuid(),
                            daemonGID: UInt32 = getgid()) throws -> (ControlServer, String) {
        let path = dir + "/control.sock"
        let handled = handled
        let server = ControlServer(path: path, logger: capture.logger, daemonUID: daemonUID, daemonGID: daemonGID,
                                   maxConnections: maxConnections, deadline: deadline,
                                   firstByteWithin: firstByteWithin) { req, _ in
            handled.withLock { $0 += 1 }
            return ControlResponse(ok: true, status: sampleReport(), message: req.cmd.rawValue)
        }
        try server.start()
        return (server, path)
    }

    /// A raw connection that sends nothing unless told to.
    private func connectRaw(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var addr = try ControlServer.address(path)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(r, 0, String(cString: strerror(errno)))
        return fd
    }

    /// Everything the server sends until it closes (bounded by a generous receive timeout, so
    /// a server that never closes fails the test instead of hanging it).
    private func readToEOF(_ fd: Int32) -> (bytes: String, closed: Bool) {
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { out += buf[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            // EOF, or ECONNRESET after the answer (the server closed with bytes unread): closed.
            let closed = n == 0 || errno == ECONNRESET
            return (String(decoding: out, as: UTF8.self), closed)
        }
    }

    private func isReadable(_ fd: Int32, waitingMs: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, waitingMs) == 1
    }

    /// Polls `cond` a bounded number of times (no wall-clock assertion).
    private func eventually(_ what: String, tries: Int = 200, _ cond: () -> Bool) {
        for _ in 0..<tries {
            if cond() { return }
            usleep(25_000)
        }
        XCTFail("never: \(what)")
    }

    private func statusAnswers(_ path: String, timeout: Double = 10) -> Bool {
        guard let r = try? ControlClient.send(ControlRequest(cmd: .status), socketPath: path, timeout: timeout) else { return false }
        return r.ok && r.status == sampleReport()
    }

    // MARK: deadlines

    /// One byte every 100 ms never finishes the line. A per-read timeout (even 1 s) would
    /// never fire; the whole-request deadline cuts it before the trickle ends, the handler
    /// never sees it, and the server keeps answering everyone else meanwhile and afterwards.
    func testByteAtATimeClientIsCutAtTheWholeRequestDeadline() throws {
        let (server, path) = try makeServer(deadline: 1.5)
        defer { server.stop() }
        let fd = try connectRaw(path)
        defer { close(fd) }
        let trickle = Array(#"{"cmd":"status","playlists":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}"#.utf8)
        var sent = 0
        var cut = false
        for byte in trickle {
            // The peer closing makes the fd readable (EOF or the failure line).
            if isReadable(fd, waitingMs: 100) { cut = true; break }
            var b = byte
            guard send(fd, &b, 1, Int32(MSG_NOSIGNAL)) == 1 else { cut = true; break }
            sent += 1
            if sent == 3 {
                // Mid-trickle, another client is served.
                XCTAssertTrue(statusAnswers(path), "a trickling client blocked the server")
            }
        }
        XCTAssertTrue(cut, "a client trickling a byte at a time was never cut (sent all \(sent) bytes)")
        XCTAssertGreaterThan(sent, 3, "it was cut while sending, not by the first-byte deadline")
        XCTAssertLessThan(sent, trickle.count)
        let (answer, closed) = readToEOF(fd)
        XCTAssertTrue(closed)
        let r = try ControlResponse.decode(line: answer.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertFalse(r.ok)
        XCTAssertNil(r.status)
        XCTAssertEqual(handled.withLock { $0 }, 1, "only the other client's request reached the handler")
        XCTAssertTrue(statusAnswers(path))
        eventually("the cut connection's slot is free") { server.acceptStats.active == 0 }
    }

    /// A client that connects and says nothing holds a slot only until the first-byte
    /// deadline: it gets a failure line and the close.
    func testSilentClientIsCutAtTheFirstByteDeadline() throws {
        let (server, path) = try makeServer(deadline: 30, firstByteWithin: 0.3)
        defer { server.stop() }
        let fd = try connectRaw(path)
        defer { close(fd) }
        let (answer, closed) = readToEOF(fd)
        XCTAssertTrue(closed, "a silent client was never cut")
        XCTAssertEqual(try ControlResponse.decode(line: answer.trimmingCharacters(in: .whitespacesAndNewlines)).ok, false)
        XCTAssertEqual(handled.withLock { $0 }, 0)
        eventually("its slot is free") { server.acceptStats.active == 0 }
    }

    // MARK: the cap

    /// With every slot held, one more connection is answered `busy` and closed at accept,
    /// before it sent a byte; the cap-full warning is logged once per run; a slot freed by an
    /// idle client hanging up lets `ControlClient` through.
    func testConnectionsBeyondTheCapAreRefusedAtAccept() throws {
        let capture = LogCapture()
        let cap = 4
        let (server, path) = try makeServer(capture: capture, maxConnections: cap, deadline: 60, firstByteWithin: 60)
        defer { server.stop() }
        var idle: [Int32] = []
        defer { idle.forEach { close($0) } }
        for _ in 0..<cap { idle.append(try connectRaw(path)) }
        eventually("\(cap) connections held") { server.acceptStats.active == cap }

        for _ in 0..<3 {
            let extra = try connectRaw(path)
            let (answer, closed) = readToEOF(extra)  // nothing was sent on it
            close(extra)
            XCTAssertTrue(closed)
            let r = try ControlResponse.decode(line: answer.trimmingCharacters(in: .whitespacesAndNewlines))
            XCTAssertEqual(r.refusal, .busy)
            XCTAssertFalse(r.ok)
        }
        XCTAssertEqual(server.acceptStats.refusedAtCap, 3)
        XCTAssertEqual(server.acceptStats.active, cap, "refusals take no slot")
        // Still full: the client retries busy refusals and gives up at its own deadline.
        XCTAssertThrowsError(try ControlClient.send(ControlRequest(cmd: .status), socketPath: path, timeout: 0.5)) { e in
            XCTAssertEqual(e as? ControlClient.ClientError, .timedOut(path: path))
        }
        XCTAssertGreaterThan(server.acceptStats.refusedAtCap, 3, "the client asked more than once")
        let fullWarnings = capture.events.filter { $0.level == .warning && "\($0.message)".contains("connections in use") }
        XCTAssertEqual(fullWarnings.count, 1, "one warning per run at the cap: \(fullWarnings.map { "\($0.message)" })")
        XCTAssertEqual(handled.withLock { $0 }, 0)

        // One idle client hangs up: its slot frees and a real request gets through.
        close(idle.removeFirst())
        XCTAssertTrue(statusAnswers(path))
        XCTAssertEqual(handled.withLock { $0 }, 1)
    }

    /// The issue's flood: 100 idle connections opened at once and kept open, with the real
    /// defaults (16 slots, 1 s to the first byte, 5 s per request). `status` through the real
    /// `ControlClient` still answers, and every one of the 100 is ended by the server (busy at
    /// accept or cut at the first-byte deadline), none is left holding a slot.
    func testHundredIdleConnectionsWhileStatusStillAnswers() throws {
        let (server, path) = try makeServer()
        defer { server.stop() }
        var idle: [Int32] = []
        defer { idle.forEach { close($0) } }
        for _ in 0..<100 { idle.append(try connectRaw(path)) }
        XCTAssertTrue(statusAnswers(path, timeout: 10), "status did not answer during a flood of idle connections")
        XCTAssertGreaterThan(server.acceptStats.refusedAtCap, 0, "the flood never reached the cap")
        var busy = 0, cut = 0
        for fd in idle {
            let (answer, closed) = readToEOF(fd)
            XCTAssertTrue(closed, "an idle connection was left open")
            let r = try ControlResponse.decode(line: answer.trimmingCharacters(in: .whitespacesAndNewlines))
            XCTAssertFalse(r.ok)
            if r.refusal == .busy { busy += 1 } else { cut += 1 }
        }
        XCTAssertEqual(busy + cut, 100)
        XCTAssertLessThanOrEqual(busy, server.acceptStats.refusedAtCap, "busy answers come only from refusals at the cap")
        XCTAssertGreaterThan(busy, 0)
        XCTAssertGreaterThan(cut, 0)
        XCTAssertEqual(handled.withLock { $0 }, 1, "only status reached the handler")
        eventually("every slot is free") { server.acceptStats.active == 0 }
    }

    // MARK: the peer check

    /// A peer the policy refuses gets the denial and the close before it sends anything: its
    /// request is never read, let alone handled. Both deadlines are far off, so only a check
    /// made before reading can answer it.
    func testRefusedPeerIsClosedBeforeItsRequestIsRead() throws {
        let capture = LogCapture()
        let asOtherUser = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
        // As root, a real peer with another uid (nobody, via setpriv); otherwise this process
        // is "another user" to a server told it runs as someone else.
        let (server, path) = try makeServer(capture: capture, deadline: 60, firstByteWithin: 60,
                                            daemonUID: asOtherUser ? getuid() : getuid() &+ 1,
                                            daemonGID: asOtherUser ? getgid() : 4_000_000_001)
        defer { server.stop() }
        let answer: String
        if asOtherUser {
            XCTAssertEqual(chmod(dir, 0o755), 0)
            XCTAssertEqual(chmod(path, 0o666), 0)
            answer = try silentPeerAsNobody(path)
        } else {
            let fd = try connectRaw(path)
            defer { close(fd) }
            let (got, closed) = readToEOF(fd)
            XCTAssertTrue(closed)
            answer = got
        }
        let r = try ControlResponse.decode(line: answer.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(r, .permissionDenied)
        XCTAssertEqual(r.refusal, .permissionDenied)
        XCTAssertEqual(handled.withLock { $0 }, 0)
        let refusal = try XCTUnwrap(capture.events.first { "\($0.message)".contains("refused peer") })
        XCTAssertEqual(refusal.metadata?["peer_uid"], asOtherUser ? "65534" : "\(getuid())")
        // A refused peer that does send a request: the answer is the same, the handler untouched.
        if !asOtherUser {
            XCTAssertEqual(try ControlClient.send(ControlRequest(cmd: .flush), socketPath: path, timeout: 5), .permissionDenied)
            XCTAssertEqual(handled.withLock { $0 }, 0)
        }
    }

    /// As nobody: connect, send nothing, print what arrives until the close (or "TIMEOUT").
    private func silentPeerAsNobody(_ path: String) throws -> String {
        let script = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(sys.argv[1])
        buf = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                buf += chunk
        except socket.timeout:
            sys.stdout.write("TIMEOUT")
        sys.stdout.write(buf.decode())
        """
        let run = try runPythonScript(script, [path], asNobody: true)
        XCTAssertEqual(run.status, 0)
        return String(decoding: run.out, as: UTF8.self)
    }

    // MARK: out of descriptors

    /// With RLIMIT_NOFILE at the lowest free descriptor, accept fails with EMFILE while the
    /// client waits in the backlog. The loop pauses (backoffs counted, a handful of accept
    /// calls, not a spin), warns once for the whole run, and serves the waiting client once
    /// descriptors are back.
    func testEMFILEAtAcceptBacksOffAndResumes() throws {
        let capture = LogCapture()
        let (server, path) = try makeServer(capture: capture, deadline: 30, firstByteWithin: 30)
        defer { server.stop() }
        // Made and connected before the limit drops: connecting needs no new descriptor.
        let waiting = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(waiting, 0)
        defer { close(waiting) }
        var addr = try ControlServer.address(path)
        let nofile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var saved = rlimit()
        XCTAssertEqual(getrlimit(nofile, &saved), 0)
        let lowest = settledLowestFreeDescriptor()
        var tight = saved
        tight.rlim_cur = rlim_t(lowest)
        let before = server.acceptStats
        XCTAssertEqual(setrlimit(nofile, &tight), 0)
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(waiting, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        usleep(600_000)
        let during = server.acceptStats
        XCTAssertEqual(setrlimit(nofile, &saved), 0)
        XCTAssertEqual(connected, 0)

        XCTAssertGreaterThan(during.backoffs, before.backoffs, "accept never hit EMFILE")
        let calls = during.acceptCalls - before.acceptCalls
        // 600 ms of 100 ms pauses is about 6 calls; a spinning loop makes many thousands.
        XCTAssertLessThan(calls, 60, "accept was called \(calls) times while out of descriptors: spinning")
        XCTAssertEqual(during.accepted, before.accepted)

        // Descriptors back: the client that waited in the backlog is served.
        let request = Array((ControlRequest(cmd: .status).jsonLine() + "\n").utf8)
        XCTAssertEqual(request.withUnsafeBytes { send(waiting, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }, request.count)
        let (answer, closed) = readToEOF(waiting)
        XCTAssertTrue(closed)
        let r = try ControlResponse.decode(line: answer.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertTrue(r.ok)
        XCTAssertEqual(r.message, "status")
        let warnings = capture.events.filter { "\($0.message)".contains("accept failed") }
        XCTAssertEqual(warnings.count, 1, "one warning per run of EMFILE, not one per pause")
        XCTAssertGreaterThan(server.acceptStats.accepted, before.accepted)
    }
}
