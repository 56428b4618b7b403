import ETLCore
import ETLTestSupport
import Foundation
import XCTest

/// The long-running daemon: real binary, real sd_notify datagrams to a socket the test binds,
/// the real control socket, real signals.
final class DaemonTests: XCTestCase {
    private func startDaemon(_ h: Harness, notify: NotifyListener, watchdogUSec: Int = 2_000_000) throws -> Process {
        var env = h.environment
        env["NOTIFY_SOCKET"] = notify.path
        env["WATCHDOG_USEC"] = String(watchdogUSec)
        let (p, _, _) = try h.launch(["run", "--config", h.configURL.path], env: env)
        return p
    }

    private func cli(_ h: Harness, _ args: [String]) throws -> Harness.Result {
        try h.run(args + ["--config", h.configURL.path])
    }

    func testLifecycleNotifyStatusPollFlushReloadStop() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 4, items: 80, seed: 21))
        let all = h.playlistIDs
        h.playlistIDs = Array(all.prefix(3))
        try h.writeConfig(extra: "")
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }

        // Not running yet: every control command exits 1 with a clear message.
        let notRunning = try cli(h, ["status"])
        XCTAssertEqual(notRunning.status, 3, "systemctl status: no daemon answers")
        XCTAssertTrue(notRunning.stderr.contains("not running"), notRunning.stderr)

        let daemon = try startDaemon(h, notify: notify)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        XCTAssertNotNil(notify.wait { $0.contains("READY=1") }, "no READY=1: \(notify.messages)")
        // READY only once the control socket listens.
        XCTAssertTrue(FileManager.default.fileExists(atPath: h.dir.appendingPathComponent("control.sock").path))
        XCTAssertNotNil(notify.wait { $0.hasPrefix("STATUS=3 playlists, 3 changed last hour") }, "\(notify.messages)")
        XCTAssertNotNil(notify.wait { $0.contains("WATCHDOG=1") }, "no watchdog pings while progressing")

        let status = try cli(h, ["status"])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("rate gate       free"), status.stdout)
        for id in h.playlistIDs { XCTAssertTrue(status.stdout.contains(id), status.stdout) }
        let json = try cli(h, ["status", "--json"])
        let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((obj["playlists"] as! [Any]).count, 3)
        XCTAssertNotNil(obj["token"])
        XCTAssertFalse(json.stdout.contains("emu-at-"), "the token's value never appears in status")

        // poll + flush: a change made now is polled on demand and uploaded on demand.
        _ = try h.emulator.mutate(h.playlistIDs[0], [["op": "add", "count": 2]])
        XCTAssertEqual(try cli(h, ["poll", h.playlistIDs[0]]).status, 0)
        let unknown = try cli(h, ["poll", "0000000000000000000000"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("not configured"), unknown.stderr)
        var flushed = false
        for _ in 0..<40 where !flushed {
            usleep(250_000)
            _ = try cli(h, ["flush"])
            flushed = Harness.netMembership(try h.rows(.playlistItems)) == (try h.truthMembership(only: Set(h.playlistIDs)))
        }
        XCTAssertTrue(flushed, "the on-demand poll + flush did not deliver the change")

        // SIGHUP with an invalid config: RELOADING, READY, old config keeps running, error names the key.
        let good = try String(contentsOf: h.configURL, encoding: .utf8)
        try good.replacingOccurrences(of: "concurrency = 4", with: "concurrency = 0").write(to: h.configURL, atomically: true, encoding: .utf8)
        let t0 = Date()
        kill(daemon.processIdentifier, SIGHUP)
        XCTAssertNotNil(notify.wait { $0.contains("RELOADING=1") && $0.contains("MONOTONIC_USEC=") })
        XCTAssertNotNil(notify.wait { _ in notify.messages(since: t0).contains { $0.contains("READY=1") } })
        XCTAssertTrue(daemon.isRunning)
        XCTAssertEqual(try cli(h, ["status"]).status, 78, "status reads the (invalid) config for its socket path")
        XCTAssertEqual(try h.run(["status", "--socket", h.dir.appendingPathComponent("control.sock").path]).status, 0)

        // SIGHUP with a valid config adding the fourth playlist: it gets polled.
        h.playlistIDs = all
        try h.writeConfig(extra: "")
        kill(daemon.processIdentifier, SIGHUP)
        var polledNew = false
        for _ in 0..<60 where !polledNew {
            usleep(250_000)
            polledNew = ((try h.emulator.stats()["by_playlist"] as? [String: Int])?[all[3]] ?? 0) > 0
        }
        XCTAssertTrue(polledNew, "a playlist added on reload was not polled")

        // SIGTERM: STOPPING, the outbox is uploaded, exit 0.
        _ = try h.emulator.mutate(all[3], [["op": "add", "count": 1]])
        XCTAssertEqual(try cli(h, ["poll", all[3]]).status, 0)
        usleep(1_500_000)
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        XCTAssertEqual(daemon.terminationStatus, 0)
        XCTAssertTrue(notify.messages.contains { $0.contains("STOPPING=1") })
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM outbox"), "0", "outbox not uploaded before exit")
        XCTAssertEqual(Harness.netMembership(try h.rows(.playlistItems)), try h.truthMembership())
    }

    /// Waiting out a long Retry-After is progress: pings continue, STATUS says what it waits for,
    /// and nothing is sent inside the window.
    func testLongRetryAfterParksWithoutStallingTheWatchdog() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 3, items: 60, seed: 4))
        try h.emulator.setFaults([["path_regex": "/v1/playlists/", "status": 429, "retry_after": "3600", "count": 1]])
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }
        let daemon = try startDaemon(h, notify: notify, watchdogUSec: 1_000_000)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        XCTAssertNotNil(notify.wait { $0.hasPrefix("STATUS=waiting: Spotify rate limit until") }, "\(notify.messages)")
        let parkedSince = Date()
        try h.emulator.resetStats()
        usleep(3_000_000)
        let pings = notify.messages(since: parkedSince).filter { $0.contains("WATCHDOG=1") }.count
        XCTAssertGreaterThanOrEqual(pings, 3, "waiting on Retry-After must not stop the watchdog")
        let status = try cli(h, ["status"])
        XCTAssertTrue(status.stdout.contains("throttled until"), status.stdout)
        XCTAssertEqual((try h.emulator.stats()["requests"] as? Int), 0, "a request was sent inside the Retry-After window")
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        XCTAssertEqual(daemon.terminationStatus, 0)
    }

    func testBadConfigAtStartExits78() throws {
        let h = try Harness(.init(scenario: "small"))
        try "[spotify]\napi_url = \"ftp://x\"\n".write(to: h.configURL, atomically: true, encoding: .utf8)
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }
        let daemon = try startDaemon(h, notify: notify)
        daemon.waitUntilExit()
        XCTAssertEqual(daemon.terminationStatus, 78)
        XCTAssertFalse(notify.messages.contains { $0.contains("READY=1") })
    }
}
