import ETLCore
import ETLTestSupport
import Foundation
import XCTest

/// A poisoned outbox row (garbage written into a stored payload with sqlite3 while the daemon
/// is stopped) quarantines its batch to the dead-letter directory; every other batch uploads,
/// and later runs stay exactly once. Stale temp files of a crashed run go at start.
final class PoisonedOutboxTests: XCTestCase {
    func testPoisonedBatchIsDeadLetteredAndTheRestFlowsExactlyOnce() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 5, items: 40, seed: 5))
        // Uploads fail on the first run: a file where each table's directory would go.
        try FileManager.default.createDirectory(at: h.outDir, withIntermediateDirectories: true)
        for t in Table.allCases { try Data().write(to: h.outDir.appendingPathComponent(t.rawValue)) }
        let r1 = try h.once(maxWait: 5)
        XCTAssertNotEqual(r1.status, 0, "uploads failed: " + r1.stdout)
        XCTAssertGreaterThan(Int(try h.sqlite("SELECT COUNT(*) FROM batches WHERE uploaded_at IS NULL")) ?? 0, 2)

        // Poison the stored tracks entry (another length: its row length list no longer fits).
        let entry = try h.sqlite("SELECT MIN(id) FROM outbox WHERE table_name = 'tracks'")
        XCTAssertFalse(entry.isEmpty)
        _ = try h.sqlite("UPDATE outbox SET payload = CAST('garbage{{not json' AS BLOB) WHERE id = \(entry)")
        for t in Table.allCases { try FileManager.default.removeItem(at: h.outDir.appendingPathComponent(t.rawValue)) }

        // Temp files of a crashed run (a pid no process has), and a link that must stay.
        let dead = "2147483000"
        let stateDir = URL(fileURLWithPath: h.statePath).deletingLastPathComponent()
        let staleSpool = stateDir.appendingPathComponent("spool/tracks_dt=2026-12-01_tracks-000000000001.ndjson.gz.tmp-\(dead)")
        let staleOut = h.outDir.appendingPathComponent("polls/dt=2026-12-01/polls-000000000001.ndjson.gz.tmp-\(dead)")
        for u in [staleSpool, staleOut] {
            try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("partial".utf8).write(to: u)
        }
        let link = h.outDir.appendingPathComponent("link.tmp-\(dead)")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: URL(fileURLWithPath: h.statePath))

        let r2 = try h.once(maxWait: 5)
        XCTAssertEqual(r2.status, 1, "a quarantined batch needs an operator: " + r2.stdout + r2.stderr.suffix(2000))
        XCTAssertTrue(r2.stdout.contains("1 batches quarantined"), r2.stdout)
        XCTAssertTrue(r2.stderr.contains("removed 2 stale temp files"), r2.stderr.suffix(2000).description)
        XCTAssertFalse(FileManager.default.fileExists(atPath: staleSpool.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: staleOut.path))
        XCTAssertNotNil(try? FileManager.default.destinationOfSymbolicLink(atPath: link.path), "the link stays")
        try FileManager.default.removeItem(at: link)
        XCTAssertTrue(r2.stderr.contains("batch quarantined: tracks/"), r2.stderr.suffix(2000).description)

        // The dead letter: the raw bytes and a reason naming the cause.
        let deadLetter = stateDir.appendingPathComponent("dead-letter")
        let names = try FileManager.default.contentsOfDirectory(atPath: deadLetter.path).sorted()
        XCTAssertEqual(names.count, 2, "\(names)")
        let stem = try XCTUnwrap(names.first { $0.hasSuffix(".reason") }).replacingOccurrences(of: ".reason", with: "")
        XCTAssertTrue(stem.hasPrefix("tracks-"), stem)
        let raw = try String(contentsOf: deadLetter.appendingPathComponent(stem + ".rows"), encoding: .utf8)
        XCTAssertTrue(raw.contains("garbage{{not json"), raw)
        let reason = try JSONSerialization.jsonObject(with: Data(contentsOf: deadLetter.appendingPathComponent(stem + ".reason")))
            as! [String: Any]
        XCTAssertEqual(reason["table"] as? String, "tracks")
        XCTAssertTrue((reason["reason"] as? String ?? "").contains("outbox row \(entry): undecodable payload"), "\(reason)")

        // The ledger: one quarantined batch, nothing pending, no outbox row left behind it.
        XCTAssertEqual(try h.sqlite("SELECT COUNT(*) FROM batches WHERE quarantined_at IS NOT NULL"), "1")
        XCTAssertEqual(try h.sqlite("SELECT COUNT(*) FROM batches WHERE uploaded_at IS NULL AND quarantined_at IS NULL"), "0")
        XCTAssertEqual(try h.sqlite("SELECT COUNT(*) FROM outbox"), "0")

        // Everything else landed exactly once.
        func events() throws -> [[String: Any]] { try h.rows(.playlistItems) }
        let first = try events()
        XCTAssertEqual(Harness.netMembership(first), try h.truthMembership())
        let keys = first.map { "\($0["playlist_id"]!)|\($0["item_key"]!)|\($0["position"]!)" }
        XCTAssertEqual(Set(keys).count, keys.count)
        XCTAssertEqual(try h.rows(.playlists).count, 5)

        // A rerun on the same state: the quarantined batch is not retried, nothing repeats.
        let before = Set(try h.outputFiles().keys)
        let r3 = try h.once(maxWait: 5)
        XCTAssertEqual(r3.status, 0, r3.stdout)
        XCTAssertFalse(r3.stderr.contains("batch quarantined"), r3.stderr.suffix(2000).description)
        XCTAssertEqual(try events().count, first.count)
        XCTAssertTrue(Set(try h.outputFiles().keys).subtracting(before).allSatisfy { $0.hasPrefix("polls/") })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: deadLetter.path).count, 2)
    }
}
