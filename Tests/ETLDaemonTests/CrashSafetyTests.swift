import ETLCore
import ETLTestSupport
import Foundation
import XCTest

/// kill -9 at random points of `run --once`, then a rerun: nothing lost, nothing duplicated in
/// content, and every batch under the object name it was given when sealed.
final class CrashSafetyTests: XCTestCase {
    func testKill9AtRandomPointsThenRerun() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["CRASH_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        print("CrashSafetyTests seed \(seed) (rerun with CRASH_SEED=\(seed))")
        var rng = SplitMix64(seed: seed)
        let h = try Harness(.init(scenario: "generated", playlists: 24, items: 150, seed: 31), extraConfig: "")
        // Small batches and a slowish API so kills land mid-scan, mid-commit and mid-flush. Each
        // playlist is read in 3 requests (the playlist with 100 items, one /items page of 50,
        // the re-check): the /items page is the slow one.
        let toml = try String(contentsOf: h.configURL, encoding: .utf8)
            .replacingOccurrences(of: "max_age = \"1s\"", with: "max_age = \"1s\"\nmax_rows = 200")
        try toml.write(to: h.configURL, atomically: true, encoding: .utf8)
        try h.emulator.setFaults([["path_regex": "/v1/playlists/.*/items", "status": 0, "delay_ms": 45, "count": -1]])

        var ledger: [String: String] = [:]   // batch id → object key, as first seen
        for round in 0..<6 {
            if round == 3 { _ = try h.emulator.mutateRandom(seed: Int(seed % 1000) + round, playlists: 12) }
            let (p, _, _) = try h.launch(["run", "--once", "--config", h.configURL.path])
            usleep(UInt32.random(in: 100_000...2_500_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            // Sealed batches keep their names across crashes.
            for line in try h.sqlite("SELECT batch_id || ' ' || object_key FROM batches").split(separator: "\n") {
                let parts = line.split(separator: " ")
                let (id, key) = (String(parts[0]), String(parts[1]))
                if let old = ledger[id] { XCTAssertEqual(old, key, "batch \(id) changed its name after a crash") }
                ledger[id] = key
            }
            XCTAssertEqual(try h.sqlite("PRAGMA integrity_check"), "ok")
        }
        let final = try h.once()
        XCTAssertEqual(final.status, 0, final.stdout + final.stderr.suffix(1500))

        let files = try h.outputFiles()
        // Every sealed batch is delivered exactly under its sealed name, and nothing else exists.
        let keys = try h.sqlite("SELECT object_key FROM batches WHERE uploaded_at IS NOT NULL").split(separator: "\n").map(String.init)
        XCTAssertEqual(Set(files.keys), Set(keys))
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM batches WHERE uploaded_at IS NULL"), "0")
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM outbox"), "0")
        // Nothing lost: the event log nets to the emulator's membership.
        XCTAssertEqual(Harness.netMembership(try h.rows(.playlistItems)), try h.truthMembership())
        // Nothing duplicated in content: no row (without its batch id) appears twice. `polls`
        // rows are left out: two polls of one playlist in the same second (a run killed right
        // after a poll, then the rerun) are two events whose rows may be equal; their objects are
        // checked against the sealed names above like every other table's.
        var seen = Set<String>()
        for (key, rows) in files where !key.hasPrefix(Table.polls.rawValue + "/") {
            for r in rows {
                var r = r
                r["batch_id"] = nil
                let text = String(decoding: try JSONSerialization.data(withJSONObject: r, options: .sortedKeys), as: UTF8.self)
                XCTAssertTrue(seen.insert(text).inserted, "duplicate row in \(key): \(text.prefix(200))")
            }
        }
        let ever = try h.emulator.truth()["ever"] as! [String: [String]]
        let trackIDs = try h.rows(.tracks).map { $0["track_id"] as! String }
        XCTAssertEqual(trackIDs.count, Set(trackIDs).count)
        // Every track present now was written (a track removed before any run committed its
        // playlist was never observable, so `ever` is only an upper bound).
        let present = Set((try h.emulator.truth()["playlists"] as! [[String: Any]]).flatMap { p in
            (p["entries"] as! [[String: Any]]).filter { $0["type"] as? String == "track" }.compactMap { $0["item_key"] as? String }
        })
        XCTAssertEqual(present.subtracting(trackIDs), [], "tracks never written")
        XCTAssertEqual(Set(trackIDs).subtracting(ever["tracks"]!), [], "tracks the emulator never had")
    }
}

