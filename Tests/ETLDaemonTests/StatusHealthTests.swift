import ETLCore
import ETLTestSupport
import Foundation
import XCTest

/// `spotifyd-etl status` for people and for monitors: the sink, the last upload error, the
/// initial-load progress, and exit codes like `systemctl status` (0 healthy, 1 degraded with
/// the reason on the first line, 3 no daemon). And `run --once`'s progress line, on a
/// terminal only.
final class StatusHealthTests: XCTestCase {
    private func startDaemon(_ h: Harness, notify: NotifyListener) throws -> Process {
        var env = h.environment
        env["NOTIFY_SOCKET"] = notify.path
        env["WATCHDOG_USEC"] = "2000000"
        return try h.launch(["run", "--config", h.configURL.path], env: env).0
    }

    private func status(_ h: Harness, json: Bool = false) throws -> Harness.Result {
        try h.run(["status", "--config", h.configURL.path] + (json ? ["--json"] : []))
    }

    private func waitFor(_ what: String, timeout: Double = 30, _ cond: () throws -> Bool) rethrows {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try cond() { return }
            usleep(200_000)
        }
        XCTFail("timed out waiting for \(what)")
    }

    func testHealthyThenNoDaemon() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 3, items: 40, seed: 8))
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }
        let daemon = try startDaemon(h, notify: notify)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        XCTAssertNotNil(notify.wait { $0.contains("READY=1") })
        try waitFor("every playlist loaded") {
            let r = try status(h, json: true)
            guard r.status == 0, let j = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else { return false }
            return j["initial_load"] == nil && (j["last_upload"] as? [String: Any]) != nil
        }
        let table = try status(h)
        XCTAssertEqual(table.status, 0, table.stdout + table.stderr)
        XCTAssertEqual(table.stdout.split(separator: "\n").first, "healthy")
        XCTAssertTrue(table.stdout.contains("sink            local \(h.outDir.path)"), table.stdout)
        let json = try status(h, json: true)
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(j["sink"] as? String, "local \(h.outDir.path)")
        XCTAssertEqual((j["health"] as? [String: Any])?["state"] as? String, "healthy")
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        XCTAssertEqual(daemon.terminationStatus, 0)
        let gone = try status(h)
        XCTAssertEqual(gone.status, 3, "no daemon answers: \(gone.stderr)")
        XCTAssertTrue(gone.stderr.contains("not running"), gone.stderr)
    }

    /// A sink that refuses every upload: degraded, exit 1, the reason on the first line, and
    /// the last upload error with its time and key in the table and the JSON.
    func testUploadsFailingIsDegraded() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 2, items: 30, seed: 9))
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }
        // Polls wait until the sink is broken, so the first batch's upload fails.
        try h.emulator.setFaults([["path_regex": "/v1/playlists/", "status": 0, "delay_ms": 1500, "count": 2]])
        let daemon = try startDaemon(h, notify: notify)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        XCTAssertNotNil(notify.wait { $0.contains("READY=1") })
        // The sink directory becomes a regular file: every put fails (ENOTDIR); nothing is lost.
        try FileManager.default.removeItem(at: h.outDir)
        try Data("x".utf8).write(to: h.outDir)
        var last = Harness.Result(status: -1, stdout: "", stderr: "")
        try waitFor("a failed upload") {
            last = try status(h)
            return last.status == 1
        }
        let first = last.stdout.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(first.hasPrefix("degraded: uploads failing since "), last.stdout)
        XCTAssertTrue(last.stdout.contains("upload error"), last.stdout)
        let json = try status(h, json: true)
        XCTAssertEqual(json.status, 1)
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let err = try XCTUnwrap(j["last_upload_error"] as? [String: Any], json.stdout)
        XCTAssertNotNil(err["at"] as? String)
        XCTAssertTrue((err["key"] as? String)?.contains("/dt=") ?? false, "\(err)")
        XCTAssertEqual((j["health"] as? [String: Any])?["state"] as? String, "degraded")
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
    }

    /// Parked on QUOTA_EXCEEDED: degraded until the park ends.
    func testQuotaParkIsDegraded() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 2, items: 20, seed: 10))
        try h.emulator.setFaults([["path_regex": "/v1/playlists/", "status": 429, "retry_after": "3600",
                                   "reason": "QUOTA_EXCEEDED", "count": 1]])
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }
        let daemon = try startDaemon(h, notify: notify)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        var last = Harness.Result(status: -1, stdout: "", stderr: "")
        try waitFor("the quota park") {
            last = try status(h)
            return last.status == 1
        }
        XCTAssertTrue(last.stdout.hasPrefix("degraded: parked on the Spotify quota until "), last.stdout)
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        XCTAssertEqual(daemon.terminationStatus, 0)
    }

    /// While playlists load for the first time, STATUS= says how far along.
    func testInitialLoadProgressInStatusLine() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 12, items: 120, seed: 11))
        // One slow /items page per playlist (the first 100 items come with the playlist).
        try h.emulator.setFaults([["path_regex": "/v1/playlists/.*/items", "status": 0, "delay_ms": 450, "count": -1]])
        try h.writeConfig(extra: "", concurrency: 1)
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }
        let daemon = try startDaemon(h, notify: notify)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        let line = notify.wait(timeout: 30) { $0.range(of: #"^STATUS=initial load: [1-9][0-9]*/12 playlists, [0-9,]+ items"#, options: .regularExpression) != nil }
        XCTAssertNotNil(line, "\(notify.messages)")
        try h.emulator.setFaults([])
        XCTAssertNotNil(notify.wait(timeout: 60) { $0.hasPrefix("STATUS=12 playlists") }, "the line moves on once loaded: \(notify.messages.suffix(5))")
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
    }

    /// `run --once` on a terminal updates one progress line in place; not on a pipe or file.
    func testOnceProgressLineOnlyOnATerminal() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 4, items: 30, seed: 12))
        // util-linux `script` gives the command a pseudo-terminal.
        let cmd = ([Harness.binary, "run", "--once", "--config", h.configURL.path]).map { "'\($0)'" }.joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qefc", cmd, "/dev/null"]
        p.environment = h.environment
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, out)
        XCTAssertTrue(out.contains("\r\u{1B}[Kpolled 1/4 playlists"), out)
        XCTAssertTrue(out.contains("\r\u{1B}[Kpolled 4/4 playlists"), out)
        XCTAssertTrue(out.contains("polled 4 playlists; 4 changed"), "the one-line summary at the end: \(out)")

        let again = try h.run(["run", "--once", "--config", h.configURL.path])
        XCTAssertEqual(again.status, 0)
        XCTAssertFalse(again.stderr.contains("\u{1B}[K"), "no progress line when stderr is not a terminal")
        XCTAssertTrue(again.stdout.contains("polled 4 playlists"), again.stdout)
    }
}
