import ETLCore
import ETLTestSupport
import Foundation
import XCTest

/// SIGHUP storms while polls are in flight: the config is swapped atomically every time, a
/// rejected config keeps the previous one, the daemon never dies, and it only ever polls
/// playlists some written config named.
///
/// Contract under test: SIGHUP reloads the config (playlists and [schedule]) atomically; a
/// rejected config keeps the old one. SIGTERM: stop starting polls, drain in-flight polls,
/// final flush, STOPPING=1, exit 0.
final class ReloadStormTests: XCTestCase {
    func testHundredReloadsWithPollsInFlight() throws {
        let t0 = Date()
        // 12 playlists: A = 0..<6, B = 3..<9 (overlapping), 9..<12 never configured.
        let h = try Harness(.init(scenario: "generated", playlists: 12, items: 30, seed: 612))
        let all = h.playlistIDs
        XCTAssertEqual(all.count, 12)
        let setA = Array(all[0..<6]), setB = Array(all[3..<9]), never = Set(all[9..<12])
        let allowed = Set(setA).union(setB)
        let socket = h.dir.appendingPathComponent("control.sock").path
        // Every playlist API request is slowed by 400 ms, so with 10 s intervals (the
        // shortest the config accepts), playlists due at once after each reload and the
        // forced polls below, polls are in flight while the signals arrive.
        try h.emulator.setFaults([["path_regex": "^/v1/playlists/", "status": 0, "delay_ms": 400, "count": -1]])

        func write(_ ids: [String], concurrency: Int) throws {
            var toml = """
            [spotify]
            api_url = "\(h.emulator.apiURL)"
            accounts_url = "\(h.emulator.accountsURL)"
            request_timeout = "10s"

            [schedule]
            interval = "10s"
            jitter = 0.2
            concurrency = \(concurrency)

            [state]
            path = "\(h.statePath)"

            [sink]
            kind = "local"
            path = "\(h.outDir.path)"
            max_age = "1s"

            [control]
            socket = "\(socket)"

            """
            for (i, id) in ids.enumerated() {
                // Mixed forms and per-playlist intervals: the reload must parse them all.
                toml += i % 2 == 0 ? "\n[[playlists]]\nid = \"\(id)\"\n" : "\n[[playlists]]\nid = \"spotify:playlist:\(id)\"\ninterval = \"12s\"\n"
            }
            // Replaced by rename, as config management does: a reload reads one whole version.
            try Data(toml.utf8).write(to: h.configURL, options: .atomic)
        }
        func status() -> [String: Any]? {
            guard let r = try? h.run(["status", "--json", "--socket", socket]), r.status == 0 else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        }
        func configured() -> Set<String>? {
            (status()?["playlists"] as? [[String: Any]]).map { Set($0.compactMap { $0["id"] as? String }) }
        }
        func settle(on ids: [String], timeout: Double = 10) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if configured() == Set(ids) { return true }
                usleep(100_000)
            }
            return false
        }

        try write(setA, concurrency: 4)
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }
        var env = h.environment
        env["NOTIFY_SOCKET"] = notify.path
        env["WATCHDOG_USEC"] = "4000000"
        let (daemon, _, daemonErr) = try h.launch(["run", "--config", h.configURL.path], env: env)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        func stderrTail() -> String { String(((try? String(contentsOf: daemonErr, encoding: .utf8)) ?? "").suffix(3000)) }
        XCTAssertNotNil(notify.wait(timeout: 20) { $0.contains("READY=1") }, "no READY=1: \(notify.messages)")
        // Let the first polls start.
        var started = false
        for _ in 0..<100 where !started {
            usleep(100_000)
            started = (((try? h.emulator.stats())?["by_playlist"] as? [String: Int])?.count ?? 0) >= 2
        }
        XCTAssertTrue(started, "no polls in flight before the storm")

        var rng = SplitMix64(seed: UInt64.random(in: 1...1_000_000))
        // Pings arrive every WATCHDOG_USEC/2 = 2 s; start measuring at one.
        _ = notify.wait(timeout: 5) { $0.contains("WATCHDOG=1") }
        let stormStart = Date()
        var last: [String] = setA
        var diedAt: Int?
        for i in 0..<100 {
            if i == 50 {
                // A garbage config in the middle: rejected, the previous one keeps running.
                // First let the storm settle on a known config, so "previous" is unambiguous.
                XCTAssertTrue(settle(on: last), "before the garbage reload: status shows \(configured().map { $0.sorted() } ?? []) not \(last.sorted())")
                let before = Date()
                try Data("[schedule]\nconcurrency = \"many\"\n[[playlists]]\nid = \"nope\"\n".utf8).write(to: h.configURL, options: .atomic)
                kill(daemon.processIdentifier, SIGHUP)
                XCTAssertNotNil(notify.wait(timeout: 10) { _ in
                    let m = notify.messages(since: before)
                    guard let r = m.firstIndex(where: { $0.contains("RELOADING=1") }) else { return false }
                    return m[(r + 1)...].contains { $0.contains("READY=1") }
                }, "no RELOADING=1 then READY=1 after the garbage reload")
                XCTAssertTrue(daemon.isRunning, "a garbage config killed the daemon: \(stderrTail())")
                XCTAssertEqual(configured(), Set(last), "a rejected config changed the playlists")
                XCTAssertTrue(stderrTail().contains("reload rejected"), "the rejection was not logged")
            }
            let useA = i % 2 == 0
            last = useA ? setA : setB
            try write(last, concurrency: useA ? 4 : 1)
            kill(daemon.processIdentifier, SIGHUP)
            if i % 10 == 5 {
                // Force polls of everything configured right now (whatever the daemon has);
                // the control socket must keep answering mid-storm.
                let r = try h.run(["poll", "--socket", socket])
                XCTAssertEqual(r.status, 0, "poll during the storm: \(r.stdout) \(r.stderr)")
            }
            usleep(UInt32.random(in: 20_000...50_000, using: &rng))
            if !daemon.isRunning { diedAt = i; break }
        }
        XCTAssertNil(diedAt, "the daemon died during the storm (iteration \(diedAt ?? -1)): \(stderrTail())")
        guard daemon.isRunning else { return }
        // Reloading is not a hang: the watchdog kept pinging through the storm (WATCHDOG_USEC 4 s).
        let gap = notify.largestPingGap(from: stormStart, to: Date())
        XCTAssertLessThan(gap, 4.0, "watchdog gap of \(gap) s during the reload storm")

        // The last written config wins.
        XCTAssertTrue(settle(on: last), "status lists \(configured().map { $0.sorted() } ?? []) after the storm, want \(last.sorted())")
        // The last config is B: its playlists are due at once, so a B-only one is polled within
        // seconds even if the storm never left one in place long enough to start.
        var served = Set<String>()
        for _ in 0..<50 {
            served = Set(((try h.emulator.stats()["by_playlist"] as? [String: Int]) ?? [:]).keys)
            if !served.isDisjoint(with: Set(setB).subtracting(setA)) { break }
            usleep(200_000)
        }
        XCTAssertTrue(served.isSubset(of: allowed), "polled playlists no config named: \(served.subtracting(allowed).sorted())")
        XCTAssertTrue(served.isDisjoint(with: never))
        XCTAssertFalse(served.isDisjoint(with: Set(setB).subtracting(setA)), "no B-only playlist was ever polled: the reloads had no effect")

        // Once settled, only the last config's playlists are polled (removed ones stop).
        usleep(1_500_000)
        try h.emulator.resetStats()
        _ = try? h.run(["poll", "--socket", socket])
        usleep(4_000_000)
        let after = Set(((try h.emulator.stats()["by_playlist"] as? [String: Int]) ?? [:]).keys)
        XCTAssertTrue(after.isSubset(of: Set(last)), "playlists of an older config still polled: \(after.subtracting(last).sorted())")
        XCTAssertFalse(after.isEmpty, "nothing polled after the storm")

        // SIGTERM: STOPPING=1, exit 0.
        kill(daemon.processIdentifier, SIGTERM)
        let stopBy = Date().addingTimeInterval(30)
        while daemon.isRunning && Date() < stopBy { usleep(100_000) }
        XCTAssertFalse(daemon.isRunning, "SIGTERM did not stop the daemon within 30 s")
        if !daemon.isRunning { XCTAssertEqual(daemon.terminationStatus, 0, stderrTail()) }
        XCTAssertTrue(notify.messages.contains { $0.contains("STOPPING=1") })
        print("ReloadStormTests: took \(Int(Date().timeIntervalSince(t0))) s, served \(served.count) playlists")
    }
}
