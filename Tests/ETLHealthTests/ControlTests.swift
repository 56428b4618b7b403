import ETLCore
import Foundation
import Logging
import XCTest
@testable import ETLHealth

func sampleReport() -> StatusReport {
    StatusReport(version: "0.1.0", uptimeS: 3725, startedAt: "2026-11-25T09:00:00Z",
                 playlists: [.init(id: "37i9dQZF1DXcBWIGoYBM5M", name: "Today's Top Hits", lastPoll: "2026-11-25T10:00:00Z",
                                   snapshotID: "MTY4NzQ1NjAwMCwwMDAwMDAw", items: 50, nextDue: "2026-11-25T10:15:00Z"),
                             .init(id: "p2", name: "Mine", items: 1234, lastError: "HTTP 403: not owner")],
                 rateGate: .init(state: "throttled", until: "2026-11-25T11:00:00Z", reason: "QUOTA_EXCEEDED"),
                 token: .init(expiresAt: "2026-11-25T11:00:00Z", state: "valid"),
                 outbox: [.init(table: "playlist_items", rows: 120, oldestAgeS: 42), .init(table: "tracks", rows: 0)],
                 pendingBatches: 2, lastUpload: .init(key: "tracks/dt=2026-11-25/tracks-000000000001.ndjson.gz", at: "2026-11-25T10:01:00Z"),
                 watchdog: .init(state: "ok", intervalS: 2, pings: 3720, maxGapS: 1.04), disk: .init(state: "ok"))
}

final class ControlProtocolTests: XCTestCase {
    func testRequestCoding() throws {
        XCTAssertEqual(try ControlRequest.decode(line: #"{"cmd":"status"}"#), ControlRequest(cmd: .status))
        XCTAssertEqual(try ControlRequest.decode(line: #"{"cmd":"poll","playlists":["a","b"]}"#).playlists, ["a", "b"])
        XCTAssertThrowsError(try ControlRequest.decode(line: #"{"cmd":"rm -rf"}"#))
        XCTAssertThrowsError(try ControlRequest.decode(line: "not json"))
        XCTAssertEqual(ControlRequest(cmd: .flush).jsonLine(), #"{"cmd":"flush"}"#)
    }

    func testStatusJSONIsStableAndSnakeCase() throws {
        let r = sampleReport()
        let line = r.jsonLine()
        XCTAssertEqual(line, r.jsonLine())
        XCTAssertFalse(line.contains("\n"))
        for key in ["\"uptime_s\"", "\"started_at\"", "\"rate_gate\"", "\"pending_batches\"", "\"last_upload\"",
                    "\"oldest_age_s\"", "\"snapshot_id\"", "\"next_due\"", "\"last_error\"", "\"last_poll\"", "\"expires_at\"",
                    "\"interval_s\"", "\"max_gap_s\"", "\"pings\""] {
            XCTAssertTrue(line.contains(key), key)
        }
        XCTAssertTrue(line.hasPrefix(#"{"disk":{"state":"ok"},"last_upload":"#), line)  // sorted keys
        let back = try JSONDecoder().decode(StatusReport.self, from: Data(line.utf8))
        XCTAssertEqual(back, r)
    }

    /// The daemon writes a status report's playlist list itself (`ControlCoding.bytes`); the
    /// line is JSONEncoder's to the byte for plain text and decodes to the same report for
    /// any text, including a name that spells the splice point.
    func testPlaylistListWrittenDirectlyIsJSONEncodersJSON() throws {
        var r = sampleReport()
        r.instance = .init(id: "etl-2", shard: .init(index: 2, count: 5, playlists: 2, listed: 9))
        let response = ControlResponse(ok: true, status: r, message: "m")
        XCTAssertEqual(response.jsonLineBytes(), Array((response.jsonLine() + "\n").utf8))
        XCTAssertEqual(String(decoding: ControlCoding.bytes(r, playlists: r.playlists) { $0.playlists = [] }, as: UTF8.self),
                       ControlCoding.line(r))
        var empty = r
        empty.playlists = []
        XCTAssertEqual(ControlResponse(ok: true, status: empty).jsonLineBytes(),
                       Array((ControlResponse(ok: true, status: empty).jsonLine() + "\n").utf8))
        XCTAssertEqual(ControlResponse.busy(slots: 4).jsonLineBytes(), Array((ControlResponse.busy(slots: 4).jsonLine() + "\n").utf8))

        r.playlists += [
            .init(id: "q1", name: #""playlists":[]"#, lastError: "a \"quoted\" \\ back/slash"),
            .init(id: "q2", name: "tab\tnew\nline\u{01}\u{7F} é 漢字 🎵 \u{2028}\u{202E}", items: 0),
            .init(id: "q3"),
        ]
        let hostile = ControlResponse(ok: true, status: r)
        let bytes = hostile.jsonLineBytes()
        XCTAssertEqual(bytes.last, UInt8(ascii: "\n"))
        XCTAssertEqual(bytes.filter { $0 == UInt8(ascii: "\n") }.count, 1, "one line")
        XCTAssertEqual(try JSONDecoder().decode(ControlResponse.self, from: Data(bytes.dropLast())), hostile)
        // Sent in pieces: the same bytes; a refused piece stops the writing.
        var pieces: [[UInt8]] = []
        XCTAssertTrue(ControlCoding.write(hostile, playlists: r.playlists, emptied: { $0.status?.playlists = [] },
                                          terminator: [UInt8(ascii: "\n")], piece: 64) { pieces.append($0); return true })
        XCTAssertGreaterThan(pieces.count, 3)
        XCTAssertEqual(Array(pieces.joined()), bytes)
        var offered = 0
        XCTAssertFalse(ControlCoding.write(hostile, playlists: r.playlists, emptied: { $0.status?.playlists = [] },
                                           terminator: [], piece: 64) { _ in offered += 1; return offered < 2 })
        XCTAssertEqual(offered, 2)
        XCTAssertEqual(try JSONDecoder().decode(StatusReport.self, from: Data(r.jsonLine().utf8)), r)
        XCTAssertFalse(r.jsonLine().contains("\u{202E}"), "still terminal-safe")
    }

    func testWatchdogCountersAreOptionalInOldReports() throws {
        let old = try JSONDecoder().decode(StatusReport.Watchdog.self, from: Data(#"{"state":"stalled: flusher since 12:03Z"}"#.utf8))
        XCTAssertEqual(old, StatusReport.Watchdog(state: "stalled: flusher since 12:03Z"))
        XCTAssertEqual(old.pings, 0)
        XCTAssertNil(old.intervalS)
        XCTAssertNil(old.maxGapS)
        XCTAssertEqual(old.summary, "stalled: flusher since 12:03Z")
        // A whole report from a daemon that predates the counters still decodes.
        var line = sampleReport().jsonLine()
        line = line.replacing(#"{"interval_s":2,"max_gap_s":1.04,"pings":3720,"state":"ok"}"#, with: #"{"state":"ok"}"#)
        XCTAssertTrue(line.contains(#""watchdog":{"state":"ok"}"#), line)
        XCTAssertEqual(try JSONDecoder().decode(StatusReport.self, from: Data(line.utf8)).watchdog, StatusReport.Watchdog(state: "ok"))
        // Disabled: no interval, no gap; the keys are left out rather than null.
        XCTAssertEqual(ControlCoding.line(StatusReport.Watchdog(state: "disabled")), #"{"pings":0,"state":"disabled"}"#)
    }

    func testWatchdogFromStats() {
        let w = StatusReport.Watchdog(state: "ok", stats: WatchdogStats(intervalS: 2, pings: 4, lastPingAt: nil, maxGapS: 1.01))
        XCTAssertEqual(w, StatusReport.Watchdog(state: "ok", intervalS: 2, pings: 4, maxGapS: 1.01))
        XCTAssertEqual(w.summary, "ok (pings every 1.0 s, largest gap 1.0 s)")
        let fresh = StatusReport.Watchdog(state: "ok", stats: WatchdogStats(intervalS: 1800))
        XCTAssertNil(fresh.maxGapS, "no ping yet: no gap to report")
        XCTAssertEqual(fresh.summary, "ok (pings every 900.0 s, no ping yet)")
        XCTAssertEqual(StatusReport.tenths(0.25), "0.3")
        XCTAssertEqual(StatusReport.tenths(0.04), "0.0")
    }

    func testRenderTableAligns() {
        let t = sampleReport().renderTable()
        XCTAssertTrue(t.contains("rate gate       throttled until 2026-11-25T11:00:00Z (QUOTA_EXCEEDED)"), t)
        XCTAssertTrue(t.contains("started         2026-11-25T09:00:00Z (up 1h2m)"), t)
        XCTAssertTrue(t.contains("watchdog        ok (pings every 1.0 s, largest gap 1.0 s)\n"), t)
        let lines = t.split(separator: "\n").map(String.init)
        let header = try! XCTUnwrap(lines.first { $0.hasPrefix("PLAYLIST") })
        let row1 = try! XCTUnwrap(lines.first { $0.hasPrefix("37i9dQ") })
        let row2 = try! XCTUnwrap(lines.first { $0.hasPrefix("p2 ") })
        // Columns start at the same offsets.
        let nameCol = header.range(of: "NAME")!.lowerBound.utf16Offset(in: header)
        XCTAssertEqual(row1.range(of: "Today's")!.lowerBound.utf16Offset(in: row1), nameCol)
        XCTAssertEqual(row2.range(of: "Mine")!.lowerBound.utf16Offset(in: row2), nameCol)
        // ITEMS right-aligned: the numbers end where the header ends.
        let itemsEnd = header.range(of: "ITEMS")!.upperBound.utf16Offset(in: header)
        XCTAssertEqual(row2.range(of: "1234")!.upperBound.utf16Offset(in: row2), itemsEnd)
        XCTAssertEqual(row1.range(of: " 50")!.upperBound.utf16Offset(in: row1), itemsEnd)
        XCTAssertTrue(t.contains("HTTP 403: not owner"))
        XCTAssertFalse(lines.contains { $0.hasSuffix(" ") })
    }
}

final class ControlAuthorizationTests: XCTestCase {
    func testRule() {
        func ok(_ uid: UInt32, _ gid: UInt32, _ groups: [UInt32] = []) -> Bool {
            ControlAuthorization.isAllowed(peer: PeerCredentials(pid: 1, uid: uid, gid: gid), daemonUID: 990, daemonGID: 985,
                                           peerSupplementaryGroups: groups)
        }
        XCTAssertTrue(ok(0, 0))          // root
        XCTAssertTrue(ok(990, 990))      // the daemon's own user
        XCTAssertTrue(ok(1000, 985))     // primary group is the daemon's group
        XCTAssertTrue(ok(1000, 1000, [1000, 985]))  // supplementary member
        XCTAssertFalse(ok(1000, 1000, [1000, 27]))
        XCTAssertFalse(ok(65534, 65534))
    }

    func testSupplementaryGroupsLookup() {
        XCTAssertTrue(ControlAuthorization.supplementaryGroups(uid: 0).contains(0))
        XCTAssertEqual(ControlAuthorization.supplementaryGroups(uid: 4_000_000_000), [])
    }
}

final class ControlServerTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        var template = Array((NSTemporaryDirectory() + "/etl-ctl-XXXXXX").utf8CString)
        dir = String(cString: try XCTUnwrap(mkdtemp(&template)))
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func makeServer(_ capture: LogCapture? = nil) -> (ControlServer, String) {
        let path = dir + "/control.sock"
        let server = ControlServer(path: path, logger: (capture ?? LogCapture()).logger) { req, peer in
            switch req.cmd {
            case .status: return ControlResponse(ok: true, status: sampleReport(), message: "peer uid \(peer.uid) pid \(peer.pid)")
            case .poll: return ControlResponse(ok: true, message: "queued " + (req.playlists ?? ["all"]).joined(separator: ","))
            case .flush: return ControlResponse(ok: false, error: "nothing to flush")
            }
        }
        return (server, path)
    }

    func testRoundTrip() throws {
        let (server, path) = makeServer()
        try server.start()
        defer { server.stop() }
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o660)

        let r = try ControlClient.send(ControlRequest(cmd: .status), socketPath: path)
        XCTAssertTrue(r.ok)
        XCTAssertEqual(r.status, sampleReport())
        XCTAssertEqual(r.message, "peer uid \(getuid()) pid \(getpid())")  // SO_PEERCRED of this very process
        let p = try ControlClient.send(ControlRequest(cmd: .poll, playlists: ["a", "b"]), socketPath: path)
        XCTAssertEqual(p.message, "queued a,b")
        let f = try ControlClient.send(ControlRequest(cmd: .flush), socketPath: path)
        XCTAssertEqual(f, ControlResponse(ok: false, error: "nothing to flush"))
    }

    /// A status of 100,000 playlists (a 25 MB line) crosses the socket whole.
    func testHundredThousandPlaylistStatusRoundTrips() throws {
        let report = reportListing(100_000)
        let path = dir + "/big.sock"
        let server = ControlServer(path: path, logger: LogCapture().logger) { _, _ in ControlResponse(ok: true, status: report) }
        try server.start()
        defer { server.stop() }
        let r = try ControlClient.send(ControlRequest(cmd: .status), socketPath: path, timeout: 120)
        XCTAssertEqual(r.status?.playlists.count, 100_000)
        XCTAssertEqual(r.status, report)
        XCTAssertGreaterThan(ControlResponse(ok: true, status: report).jsonLineBytes().count, 16 << 20, "past the old client limit")
    }

    /// Each piece of a reply has its own answer deadline: a client that keeps taking pieces gets
    /// the whole reply however long it takes in all, one that stops reading is cut and logged.
    func testAnswerDeadlineIsPerPieceAndAStalledReaderIsCutAndLogged() throws {
        let report = reportListing(4_000)
        let whole = ControlResponse(ok: true, status: report).jsonLineBytes()
        XCTAssertGreaterThan(whole.count, 640 << 10, "well past the socket buffers, so the server waits on the reader")
        let capture = LogCapture()
        let path = dir + "/slow.sock"
        let server = ControlServer(path: path, logger: capture.logger, deadline: 1) { _, _ in ControlResponse(ok: true, status: report) }
        try server.start()
        defer { server.stop() }

        // 64 KiB every 0.15 s: about 1.5 s in all, past the 1 s deadline, each piece well within it.
        let slow = try readReply(path: path, pauseFirst: 0, pauseEach: 0.15)
        XCTAssertEqual(slow, whole)
        XCTAssertFalse(capture.events.contains { $0.message.description.contains("cut short") })

        // Nothing taken for 2 s: cut after what the socket buffers held, and logged.
        let stalled = try readReply(path: path, pauseFirst: 2, pauseEach: 0)
        XCTAssertLessThan(stalled.count, whole.count)
        XCTAssertEqual(Array(whole.prefix(stalled.count)), stalled)
        XCTAssertNotEqual(stalled.last, UInt8(ascii: "\n"))
        let cut = try XCTUnwrap(capture.events.first { $0.message.description.contains("cut short") })
        XCTAssertEqual(cut.level, .warning)
        let sent = try XCTUnwrap(cut.metadata?["sent_bytes"].flatMap { Int("\($0)") })
        XCTAssertGreaterThanOrEqual(stalled.count, sent, "what was sent was read")
        XCTAssertLessThan(sent, whole.count)
    }

    /// A reply that ends without its newline is named as cut short, not as unreadable JSON.
    func testClientNamesAReplyCutShort() throws {
        let path = dir + "/cut.sock"
        var addr = try ControlServer.address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(fd, 1), 0)
        let partial = Array(#"{"ok":true,"status":{"vers"#.utf8)
        let served = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let c = accept(fd, nil, nil)
            var buf = [UInt8](repeating: 0, count: 4096)
            _ = read(c, &buf, buf.count)
            _ = partial.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
            close(c)
            served.signal()
        }
        XCTAssertThrowsError(try ControlClient.send(ControlRequest(cmd: .status), socketPath: path)) { e in
            XCTAssertEqual(e as? ControlClient.ClientError,
                           .io("reply from spotifyd-etl on \(path) was cut short after \(partial.count) bytes (see the daemon's journal)"))
        }
        XCTAssertEqual(served.wait(timeout: .now() + 5), .success)
    }

    /// `sampleReport()` listing `count` polled playlists, about 250 bytes each in the reply.
    func reportListing(_ count: Int) -> StatusReport {
        var report = sampleReport()
        report.playlists = (0..<count).map { i in
            .init(id: "pl\(i)", name: "Playlist \(i)", lastPoll: "2026-12-03T17:06:08Z", snapshotID: String(repeating: "A", count: 50) + "\(i)",
                  items: i % 300, nextDue: "2026-12-03T17:16:08Z")
        }
        return report
    }

    /// Sends a status request from a Python client that waits `pauseFirst` seconds before
    /// reading, then reads 64 KiB at a time with `pauseEach` between reads, until EOF.
    func readReply(path: String, pauseFirst: Double, pauseEach: Double) throws -> [UInt8] {
        let script = """
        import socket, sys, time
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(sys.argv[1])
        s.sendall(b'{"cmd":"status"}\\n')
        time.sleep(float(sys.argv[2]))
        while True:
            chunk = s.recv(65536)
            if not chunk: break
            sys.stdout.buffer.write(chunk)
            time.sleep(float(sys.argv[3]))
        """
        let run = try runPythonScript(script, [path, "\(pauseFirst)", "\(pauseEach)"])
        XCTAssertEqual(run.status, 0)
        return Array(run.out)
    }

    func testMalformedRequestGetsErrorReply() throws {
        let (server, path) = makeServer()
        try server.start()
        defer { server.stop() }
        let out = try runPython(path: path, line: #"{"cmd":"explode"}"#)
        let r = try ControlResponse.decode(line: out.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertFalse(r.ok)
        XCTAssertTrue(r.error?.contains("malformed request") ?? false, "\(r)")
    }

    func testNotRunningError() {
        let path = dir + "/missing.sock"
        XCTAssertThrowsError(try ControlClient.send(ControlRequest(cmd: .status), socketPath: path)) { e in
            XCTAssertEqual("\(e)", "spotifyd-etl is not running (no control socket at \(path))")
        }
        // A stale socket file with nobody listening reads the same.
        let (server, spath) = makeServer()
        try? server.start()
        server.stop()
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = try! ControlServer.address(spath)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        XCTAssertThrowsError(try ControlClient.send(ControlRequest(cmd: .status), socketPath: spath)) { e in
            XCTAssertEqual(e as? ControlClient.ClientError, .notRunning(path: spath))
        }
        // ...and a new server replaces that stale file.
        let (s2, _) = makeServer()
        XCTAssertNoThrow(try s2.start())
        defer { s2.stop() }
        XCTAssertTrue((try? ControlClient.send(ControlRequest(cmd: .status), socketPath: spath))?.ok ?? false)
        // A second server on a live socket refuses to steal it.
        let (s3, _) = makeServer()
        XCTAssertThrowsError(try s3.start()) { e in
            XCTAssertEqual(e as? ControlServer.ServerError, .alreadyRunning(spath))
        }
    }

    /// A real peer with another uid: `setpriv` drops to nobody; SO_PEERCRED reports 65534 and
    /// the server refuses and logs it. The socket mode is opened to 0666 here only so the
    /// kernel's file-permission gate lets the connect through and the SO_PEERCRED gate is tested.
    func testRefusesOtherUserOverRealSocket() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            // Not root: we are "another user" to a server that believes it runs as a
            // different uid/gid, so our own client must be refused over the real socket.
            let capture = LogCapture()
            let path = dir + "/control.sock"
            let server = ControlServer(path: path, logger: capture.logger, daemonUID: getuid() &+ 1,
                                       daemonGID: 4_000_000_001) { _, _ in ControlResponse(ok: true) }
            try server.start()
            defer { server.stop() }
            XCTAssertEqual(try ControlClient.send(ControlRequest(cmd: .status), socketPath: path), .permissionDenied)
            XCTAssertEqual(capture.events.first?.metadata?["peer_uid"], "\(getuid())")
            return
        }
        let capture = LogCapture()
        let (server, path) = makeServer(capture)
        try server.start()
        defer { server.stop() }

        // With the proper 0660 mode, nobody is stopped by the kernel before reaching us.
        XCTAssertEqual(chmod(dir, 0o755), 0)
        let blocked = try runPython(path: path, line: #"{"cmd":"status"}"#, asNobody: true)
        XCTAssertTrue(blocked.contains("PermissionError") || blocked.contains("Errno 13"), blocked)

        XCTAssertEqual(chmod(path, 0o666), 0)
        let out = try runPython(path: path, line: #"{"cmd":"status"}"#, asNobody: true)
        let r = try ControlResponse.decode(line: out.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(r, .permissionDenied)
        XCTAssertEqual(r.refusal, .permissionDenied)
        XCTAssertNil(r.status)
        let refusal = try XCTUnwrap(capture.events.first { $0.message.description.contains("refused") })
        XCTAssertEqual(refusal.metadata?["peer_uid"], "65534")
        XCTAssertNotNil(refusal.metadata?["peer_pid"])
        // Root still gets served on the same socket.
        XCTAssertTrue(try ControlClient.send(ControlRequest(cmd: .status), socketPath: path).ok)
    }

    /// Sends `line` with a tiny Python client (system python, readable by any uid); returns
    /// its stdout, or stderr when it failed.
    func runPython(path: String, line: String, asNobody: Bool = false) throws -> String {
        let script = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(sys.argv[1])
        try:
            s.sendall(sys.argv[2].encode() + b"\\n")
        except OSError:
            pass  # refused before its request was read: the answer is still there to read
        buf = b""
        while not buf.endswith(b"\\n"):
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk: break
            buf += chunk
        sys.stdout.write(buf.decode())
        """
        let run = try runPythonScript(script, [path, line], asNobody: asNobody)
        return String(decoding: run.status == 0 ? run.out : run.err, as: UTF8.self)
    }
}
