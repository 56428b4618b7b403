import ETLCore
import ETLTestSupport
import Foundation
import XCTest

/// Requests per poll at the physical minimum (`FetchPlan`), counted by the emulator per
/// playlist (`by_playlist`: every `/playlists/{id}…` request; artist lookups are not a
/// playlist's), over `run --once` cycles of the real binary, with the rows checked against the
/// emulator's truth after every cycle.
final class RequestMinimumTests: XCTestCase {
    /// Playlist requests of the last cycle, by playlist.
    func requests(_ h: Harness) throws -> [String: Int] {
        try XCTUnwrap(try h.emulator.stats()["by_playlist"] as? [String: Int])
    }

    /// The `fields` of every playlist request of the last cycle (`recent`, the last 100), by playlist.
    func fields(_ h: Harness) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for r in try XCTUnwrap(try h.emulator.stats()["recent"] as? [String]) {
            guard let c = URLComponents(string: "http://x" + r), c.path.hasPrefix("/v1/playlists/") else { continue }
            let parts = c.path.split(separator: "/")
            let f = c.queryItems?.first { $0.name == "fields" }?.value ?? ""
            out[String(parts[2]), default: []].append(parts.count > 3 ? String(parts[3]) : f)
        }
        return out
    }

    func cycle(_ h: Harness, _ label: String) throws {
        try h.emulator.resetStats()
        let r = try h.once()
        XCTAssertEqual(r.status, 0, "\(label): \(r.stdout)\(r.stderr.suffix(2000))")
    }

    func assertRowsMatchTruth(_ h: Harness, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(Harness.netMembership(try h.rows(.playlistItems)), try h.truthMembership(), label, file: file, line: line)
        // The stored size, which picks the next poll's requests, is the playlist's.
        for p in try XCTUnwrap(try h.emulator.truth()["playlists"] as? [[String: Any]]) {
            let id = p["id"] as! String
            XCTAssertEqual(try h.sqlite("SELECT item_count FROM watermarks WHERE playlist_id = '\(id)'"), "\(p["total"] as! Int)",
                           "\(label): stored size of \(id)", file: file, line: line)
        }
    }

    func testRequestsPerPollAtThePhysicalMinimum() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 1, items: 500, seed: 21))
        let big = h.playlistIDs[0]
        let small = try XCTUnwrap(try h.emulator.createPlaylist(name: "small", items: 40)["id"] as? String)
        let grows = try XCTUnwrap(try h.emulator.createPlaylist(name: "grows", items: 90)["id"] as? String)
        let shrinks = try XCTUnwrap(try h.emulator.createPlaylist(name: "shrinks", items: 130)["id"] as? String)
        let exact = try XCTUnwrap(try h.emulator.createPlaylist(name: "exactly 100", items: 100)["id"] as? String)
        h.playlistIDs = [big, small, grows, shrinks, exact]
        try h.writeConfig()
        let snapshotOnly = "snapshot_id"

        // First load: no snapshot-only request. ≤ 100 items: the playlist with its embedded page.
        // 500: that + 8 /items pages (offsets 100…450) + the re-check. 130: + 1 page + re-check.
        try cycle(h, "first load")
        XCTAssertEqual(try requests(h), [big: 1 + 8 + 1, small: 1, grows: 1, shrinks: 1 + 1 + 1, exact: 1])
        let first = try fields(h)
        XCTAssertEqual(first[big]?.count, 10)
        XCTAssertTrue(first[big]![0].contains("items(items(added_at"), first[big]![0])
        XCTAssertEqual(Array(first[big]![1...8]), Array(repeating: "items", count: 8))
        XCTAssertEqual(first[big]![9], snapshotOnly, "the re-check asks for the snapshot only")
        XCTAssertEqual(try h.emulator.violations(), 0)
        try assertRowsMatchTruth(h, "first load")

        // Unchanged: one request each; a large playlist's is snapshot-only.
        try cycle(h, "unchanged")
        XCTAssertEqual(try requests(h), [big: 1, small: 1, grows: 1, shrinks: 1, exact: 1])
        let unchanged = try fields(h)
        XCTAssertEqual(unchanged[big], [snapshotOnly])
        XCTAssertEqual(unchanged[shrinks], [snapshotOnly])
        XCTAssertTrue(unchanged[small]![0].contains("items(items(added_at"), "a small playlist's one request carries its items")
        XCTAssertEqual(try h.rows(.polls).filter { $0["outcome"] as? String == "unchanged" }.count, 5)

        // Changed: 500 → 500 (one removed, one added): snapshot, playlist with the first 100,
        // 8 pages, re-check. ≤ 100: still one. 90 → 130: the embedded page has a next, so the
        // /items page from 100 and a re-check. 130 → 80: snapshot, then the embedded page holds
        // everything (no re-check). 100 → 101: as a growth.
        try h.emulator.mutate(big, [["op": "remove", "positions": [3]], ["op": "add", "count": 1]])
        try h.emulator.mutate(small, [["op": "add", "count": 2], ["op": "move", "from": 0, "to": 30]])
        try h.emulator.mutate(grows, [["op": "add", "count": 40]])
        try h.emulator.mutate(shrinks, [["op": "remove", "positions": Array(stride(from: 0, to: 100, by: 2))]])
        try h.emulator.mutate(exact, [["op": "add", "count": 1]])
        try cycle(h, "changed")
        XCTAssertEqual(try requests(h), [big: 1 + 1 + 8 + 1, small: 1, grows: 1 + 1 + 1, shrinks: 1 + 1, exact: 1 + 1 + 1])
        let changed = try fields(h)
        XCTAssertEqual(changed[big]?.first, snapshotOnly)
        XCTAssertEqual(changed[shrinks]?.first, snapshotOnly)
        XCTAssertEqual(changed[grows]?[1], "items")
        try assertRowsMatchTruth(h, "changed")

        // The new sizes pick the new ways: 130 and 101 are large now, 80 is small.
        try cycle(h, "unchanged after the moves")
        XCTAssertEqual(try requests(h), [big: 1, small: 1, grows: 1, shrinks: 1, exact: 1])
        let after = try fields(h)
        XCTAssertEqual(after[grows], [snapshotOnly])
        XCTAssertEqual(after[exact], [snapshotOnly])
        XCTAssertNotEqual(after[shrinks], [snapshotOnly])

        // Shrinking below 100 and growing past it, each from the other side once more.
        try h.emulator.mutate(grows, [["op": "remove", "positions": Array(0..<60)]])
        try h.emulator.mutate(shrinks, [["op": "add", "count": 70]])
        try cycle(h, "back across 100")
        XCTAssertEqual(try requests(h), [big: 1, small: 1, grows: 1 + 1, shrinks: 1 + 1 + 1, exact: 1])
        try assertRowsMatchTruth(h, "back across 100")
        XCTAssertEqual(try h.emulator.violations(), 0)
    }

    /// A playlist the app may list but not read (development mode, not owned): the playlist
    /// answers without a page, so the poll asks `/items`, which answers 403 — as before.
    func testUnreadablePlaylistStillEndsIn403() throws {
        let h = try Harness(.init(scenario: "small"))
        let truth = try XCTUnwrap(try h.emulator.truth()["playlists"] as? [[String: Any]])
        let foreign = try XCTUnwrap(truth.first { ($0["name"] as! String).contains("Someone Else") }?["id"] as? String)
        h.playlistIDs = [foreign]
        try h.writeConfig()
        try h.emulator.resetStats()
        XCTAssertEqual(try h.once().status, 1, "a 403 playlist makes --once exit 1")
        XCTAssertEqual(try requests(h), [foreign: 2])
        XCTAssertEqual(try fields(h)[foreign]?.last, "items")
        let polls = try h.rows(.polls)
        XCTAssertEqual(polls.last?["outcome"] as? String, "forbidden")
        XCTAssertEqual(polls.last?["items"] as? Int, 2, "the count came with the metadata")
    }
}
