import ETLCore
import ETLTestSupport
import Foundation
import XCTest

/// `run --once` end to end: real binary, real emulator over loopback, real SQLite, real files.
final class OnceEndToEndTests: XCTestCase {

    /// 200 playlists × 500 items land exactly once; a second run with no changes makes exactly
    /// one request per playlist and writes nothing.
    func testGeneratedScenarioLandsExactlyOnceThenUnchangedCostsOneRequest() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 200, items: 500, seed: 11))
        let r = try h.once()
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr.suffix(2000))
        XCTAssertTrue(r.stdout.contains("polled 200 playlists; 200 changed"), r.stdout)

        let files = try h.outputFiles()
        let events = files.filter { $0.key.hasPrefix("playlist_items/") }.flatMap(\.value)
        XCTAssertTrue(events.allSatisfy { $0["event"] as? String == "added" })
        XCTAssertEqual(Harness.netMembership(events), try h.truthMembership())
        // Exactly once: no event row is repeated (position makes duplicates of a track distinct).
        let eventKeys = events.map { "\($0["playlist_id"]!)|\($0["item_key"]!)|\($0["position"]!)" }
        XCTAssertEqual(Set(eventKeys).count, eventKeys.count)
        XCTAssertGreaterThan(events.count, 95_000)

        let truth = try h.emulator.truth()
        let ever = truth["ever"] as! [String: [String]]
        for (table, kind, column) in [(Table.tracks, "tracks", "track_id"), (.albums, "albums", "album_id"),
                                      (.episodes, "episodes", "episode_id")] {
            let ids = files.filter { $0.key.hasPrefix(table.rawValue + "/") }.flatMap(\.value).map { $0[column] as! String }
            XCTAssertEqual(ids.count, Set(ids).count, "\(table) written more than once")
            XCTAssertEqual(Set(ids), Set(ever[kind]!), "\(table) ids differ from the emulator's truth")
        }
        let artistIDs = files.filter { $0.key.hasPrefix("artists/") }.flatMap(\.value).map { $0["artist_id"] as! String }
        XCTAssertEqual(Set(artistIDs), Set(ever["artists"]!))
        XCTAssertEqual(files.filter { $0.key.hasPrefix("playlists/") }.flatMap(\.value).count, 200)

        // Every output row carries its batch id, matching the object name.
        for (key, rows) in files {
            let idInName = Int64(key.split(separator: "-").last!.split(separator: ".").first!)!
            XCTAssertTrue(rows.allSatisfy { ($0["batch_id"] as? Int).map(Int64.init) == idInName }, key)
        }

        try h.emulator.resetStats()
        let before = Set(files.keys)
        let r2 = try h.once()
        XCTAssertEqual(r2.status, 0, r2.stdout)
        XCTAssertTrue(r2.stdout.contains("0 changed; 200 unchanged"), r2.stdout)
        let stats = try h.emulator.stats()
        let byPlaylist = stats["by_playlist"] as! [String: Int]
        XCTAssertEqual(byPlaylist.count, 200)
        XCTAssertTrue(byPlaylist.values.allSatisfy { $0 == 1 }, "\(byPlaylist.values.sorted().suffix(3))")
        let byRoute = stats["by_route"] as! [String: Int]
        XCTAssertEqual(byRoute["playlist"], 200)
        XCTAssertNil(byRoute["items"])
        // An unchanged run writes only its heartbeats: one `polls` object of one row per playlist.
        let after = try h.outputFiles()
        let written = after.filter { !before.contains($0.key) }
        XCTAssertEqual(written.count, 1, "\(written.keys.sorted())")
        XCTAssertTrue(written.keys.allSatisfy { $0.hasPrefix("polls/") }, "an unchanged run wrote \(written.keys.sorted())")
        let heartbeats = written.values.flatMap { $0 }
        XCTAssertEqual(heartbeats.count, 200)
        XCTAssertTrue(heartbeats.allSatisfy { $0["outcome"] as? String == "unchanged" && $0["requests"] as? Int == 1 })
    }

    /// The `polls` heartbeat, read back from the objects: one row per poll of every playlist in
    /// each run, with the outcome, snapshot, count and requests of that poll; a first poll is
    /// `changed`, a rename-only snapshot `renamed`, 403/404 `forbidden`/`not_found`.
    func testPollsHeartbeatRecordsEveryPollOutcome() throws {
        let h = try Harness(.init(scenario: "small"))
        let truth = try h.emulator.truth()["playlists"] as! [[String: Any]]
        func id(_ name: String) -> String { truth.first { ($0["name"] as! String).contains(name) }!["id"] as! String }
        let empty = id("Empty"), foreign = id("Someone Else"), editorial = "37i9dQZF1DXcBWIGoYBM5M"
        let available = Set(h.playlistIDs).subtracting([foreign, editorial])
        XCTAssertTrue(h.playlistIDs.contains(foreign) && h.playlistIDs.contains(editorial) && available.count >= 4)

        func byPlaylist(_ rows: [[String: Any]]) -> [String: [String: Any]] {
            var out: [String: [String: Any]] = [:]
            for r in rows {
                let pl = r["playlist_id"] as! String
                XCTAssertNil(out[pl], "two polls rows for \(pl) in one run")
                out[pl] = r
            }
            return out
        }
        XCTAssertEqual(try h.once().status, 1, "403/404 playlists make --once exit 1")
        let firstRequests = try XCTUnwrap(try h.emulator.stats()["by_playlist"] as? [String: Int])
        let firstFiles = try h.outputFiles()
        let first = byPlaylist(firstFiles.filter { $0.key.hasPrefix("polls/") }.flatMap(\.value))
        XCTAssertEqual(Set(first.keys), Set(h.playlistIDs))
        let playlistRows = firstFiles.filter { $0.key.hasPrefix("playlists/") }.flatMap(\.value)
        for pl in available {
            let r = first[pl]!, committed = playlistRows.first { $0["playlist_id"] as? String == pl }!
            XCTAssertEqual(r["outcome"] as? String, "changed", pl)
            XCTAssertEqual(r["snapshot_id"] as? String, committed["snapshot_id"] as? String, pl)
            XCTAssertEqual(r["polled_at"] as? String, committed["observed_at"] as? String, pl)
            XCTAssertEqual(r["items"] as? Int, committed["item_count"] as? Int, pl)
            // Every playlist here has at most 100 items: one request, the playlist with its
            // embedded page; the poll's count adds its artist lookups.
            XCTAssertEqual(firstRequests[pl], 1, "the playlist with its embedded page: \(pl)")
            XCTAssertGreaterThanOrEqual(r["requests"] as! Int, 1, pl)
        }
        XCTAssertEqual(first[foreign]?["outcome"] as? String, "forbidden")
        XCTAssertEqual(first[editorial]?["outcome"] as? String, "not_found")
        // The 404 comes for the metadata: nothing read. The 403 comes for the items (the metadata
        // of a playlist the app may not read is served): its snapshot and count were read.
        XCTAssertTrue(first[editorial]!["snapshot_id"] is NSNull && first[editorial]!["items"] is NSNull)
        XCTAssertEqual(first[editorial]!["requests"] as? Int, 1)
        XCTAssertNotNil(first[foreign]!["snapshot_id"] as? String)
        XCTAssertNotNil(first[foreign]!["items"] as? Int)
        XCTAssertEqual(first[foreign]!["requests"] as? Int, 2, "metadata, then the refused items page")
        XCTAssertEqual(firstRequests[foreign], 2)
        XCTAssertEqual(firstRequests[editorial], 1)
        for r in first.values {
            let at = r["polled_at"] as! String
            XCTAssertTrue(at.count == 20 && at.hasSuffix("Z") && Timestamp.parse(at) != nil, at)
            XCTAssertGreaterThanOrEqual(r["duration_ms"] as! Int, 0)
        }

        _ = try h.emulator.mutate(empty, [["op": "rename", "name": "Renamed ✨"]])
        XCTAssertEqual(try h.once().status, 1)
        let secondFiles = try h.outputFiles().filter { firstFiles[$0.key] == nil }
        XCTAssertEqual(Set(secondFiles.keys.map { String($0.prefix { $0 != "/" }) }), ["playlists", "polls"],
                       "a rename writes a playlists row; everything else only heartbeats")
        let second = byPlaylist(secondFiles.filter { $0.key.hasPrefix("polls/") }.flatMap(\.value))
        XCTAssertEqual(Set(second.keys), Set(h.playlistIDs))
        XCTAssertEqual(second[empty]?["outcome"] as? String, "renamed")
        let renamedRow = secondFiles.filter { $0.key.hasPrefix("playlists/") }.flatMap(\.value)
        XCTAssertEqual(renamedRow.map { $0["name"] as? String }, ["Renamed ✨"])
        XCTAssertEqual(second[empty]?["snapshot_id"] as? String, renamedRow.first?["snapshot_id"] as? String)
        XCTAssertNotEqual(second[empty]?["snapshot_id"] as? String, first[empty]?["snapshot_id"] as? String)
        for pl in available.subtracting([empty]) {
            let r = second[pl]!
            XCTAssertEqual(r["outcome"] as? String, "unchanged", pl)
            XCTAssertEqual(r["requests"] as? Int, 1, "an unchanged playlist costs one request: \(pl)")
            XCTAssertEqual(r["snapshot_id"] as? String, first[pl]?["snapshot_id"] as? String, pl)
            XCTAssertEqual(r["items"] as? Int, first[pl]?["items"] as? Int, pl)
        }
        XCTAssertEqual(second[foreign]?["outcome"] as? String, "forbidden")
        XCTAssertEqual(second[editorial]?["outcome"] as? String, "not_found")
        // Heartbeats carry their batch id like every row; object names follow the same scheme.
        for (key, rows) in secondFiles where key.hasPrefix("polls/") {
            XCTAssertTrue(key.contains("/polls-") && key.hasSuffix(".ndjson.gz"), key)
            let idInName = Int(key.split(separator: "-").last!.split(separator: ".").first!)!
            XCTAssertTrue(rows.allSatisfy { $0["batch_id"] as? Int == idInName }, key)
        }
    }

    /// Adds, removes, reorders, a rename-only change, duplicates, null items, local files,
    /// episodes and unicode each reach the right table; 403/404 playlists are reported.
    func testChangesReachTheRightTables() throws {
        let h = try Harness(.init(scenario: "small"))
        let truth = try h.emulator.truth()["playlists"] as! [[String: Any]]
        func id(_ name: String) -> String { truth.first { ($0["name"] as! String).contains(name) }!["id"] as! String }
        let basic = id("Basic Mix"), edge = id("Edge Cases"), unicode = id("夜の音楽"), empty = id("Empty"),
            foreign = id("Someone Else"), editorial = "37i9dQZF1DXcBWIGoYBM5M"

        let r1 = try h.once()
        XCTAssertEqual(r1.status, 1, "403/404 playlists make --once exit 1: \(r1.stdout)")
        XCTAssertTrue(r1.stdout.contains("unavailable: "), r1.stdout)
        XCTAssertTrue(r1.stdout.contains("\(foreign) (HTTP 403"), r1.stdout)
        XCTAssertTrue(r1.stdout.contains("\(editorial) (HTTP 404"), r1.stdout)
        let errors = try h.sqlite("SELECT playlist_id || '=' || last_error FROM watermarks WHERE last_error IS NOT NULL ORDER BY 1")
        XCTAssertTrue(errors.contains(foreign) && errors.contains(editorial), errors)

        let items = try h.rows(.playlistItems)
        let edgeItems = items.filter { $0["playlist_id"] as? String == edge }
        // Duplicates: the same track twice, two events at distinct positions.
        let dupKey = edgeItems.first { $0["position"] as? Int == 0 }!["item_key"] as! String
        XCTAssertEqual(edgeItems.filter { $0["item_key"] as? String == dupKey }.map { $0["position"] as! Int }.sorted(), [0, 1])
        // Local file: keyed by its URI, no track id.
        let local = edgeItems.first { $0["item_type"] as? String == "local" }!
        XCTAssertEqual(local["item_key"] as? String, "spotify:local:Local+Artist:Local+Album:Local+Title:210")
        XCTAssertTrue(local["track_id"] is NSNull)
        // Episodes: in playlist_items and in the episodes table.
        let episodeKeys = edgeItems.filter { $0["item_type"] as? String == "episode" }.map { $0["item_key"] as! String }
        XCTAssertEqual(episodeKeys.count, 2)
        XCTAssertEqual(Set(try h.rows(.episodes).map { $0["episode_id"] as! String }), Set(episodeKeys))
        // Null added_at/added_by stay null.
        XCTAssertTrue(edgeItems.contains { $0["position"] as? Int == 5 && $0["added_at"] is NSNull && $0["added_by"] is NSNull })
        // Rejects: the null item, the id-less track, the string duration; each with a reason and the raw JSON.
        let rejects = try h.rows(.rejects).filter { $0["playlist_id"] as? String == edge }
        XCTAssertEqual(Set(rejects.map { $0["position"] as! Int }), [2, 6, 7], "\(rejects)")
        XCTAssertEqual(rejects.first { $0["position"] as? Int == 2 }?["reason"] as? String, "unavailable")
        XCTAssertTrue(rejects.allSatisfy { !($0["raw"] as! String).isEmpty && !($0["reason"] as! String).isEmpty })
        // Unicode: NFC, trimmed, scripts and emoji intact.
        let names = try h.rows(.tracks).map { $0["name"] as! String }
        XCTAssertTrue(names.contains("Caf\u{e9} na\u{ef}ve (NFD)"), "\(names)")
        XCTAssertFalse(names.contains { $0.hasPrefix(" ") || $0.hasSuffix(" ") })
        let plNames = try h.rows(.playlists).map { $0["name"] as! String }
        XCTAssertTrue(plNames.contains("🎧 夜の音楽 Caf\u{e9} مزيج"), "\(plNames)")
        XCTAssertTrue(Set(try h.rows(.artists).map { $0["name"] as! String }).isSuperset(of: ["Björk", "坂本龍一", "فيروز"]))
        let filesAfterFirst = Set(try h.outputFiles().keys)

        // Changes: add 2 and remove position 0 in Basic Mix; reorder only in the unicode one;
        // rename only of Empty; a duplicate, a null, a local file and an episode in Edge Cases.
        let basicBefore = items.filter { $0["playlist_id"] as? String == basic }
        let removedKey = basicBefore.first { $0["position"] as? Int == 0 }!["item_key"] as! String
        _ = try h.emulator.mutate(basic, [["op": "add", "count": 2], ["op": "remove", "positions": [0]]])
        _ = try h.emulator.mutate(unicode, [["op": "move", "from": 0, "to": 2]])
        _ = try h.emulator.mutate(empty, [["op": "rename", "name": "Renamed ✨"]])
        _ = try h.emulator.mutate(edge, [["op": "duplicate", "position": 3], ["op": "add_null"], ["op": "add_episode"]])
        let r2 = try h.once()
        XCTAssertEqual(r2.status, 1, r2.stdout)
        let newFiles = try h.outputFiles().filter { !filesAfterFirst.contains($0.key) }
        let newEvents = newFiles.filter { $0.key.hasPrefix("playlist_items/") }.flatMap(\.value)
        let basicEvents = newEvents.filter { $0["playlist_id"] as? String == basic }
        XCTAssertEqual(basicEvents.filter { $0["event"] as? String == "added" }.count, 2)
        let removed = basicEvents.filter { $0["event"] as? String == "removed" }
        XCTAssertEqual(removed.count, 1)
        XCTAssertEqual(removed.first?["item_key"] as? String, removedKey)
        XCTAssertEqual(removed.first?["position"] as? Int, 0, "removed carries its last known position")
        XCTAssertTrue(newEvents.filter { $0["playlist_id"] as? String == unicode }.isEmpty, "a reorder is not an event")
        XCTAssertTrue(newEvents.filter { $0["playlist_id"] as? String == empty }.isEmpty, "a rename is not an event")
        let newPlaylists = newFiles.filter { $0.key.hasPrefix("playlists/") }.flatMap(\.value)
        XCTAssertEqual(Set(newPlaylists.map { $0["playlist_id"] as! String }), [basic, unicode, empty, edge])
        XCTAssertEqual(newPlaylists.first { $0["playlist_id"] as? String == empty }?["name"] as? String, "Renamed ✨")
        let edgeNew = newEvents.filter { $0["playlist_id"] as? String == edge }
        XCTAssertEqual(edgeNew.map { $0["item_type"] as! String }.sorted(), ["episode", "local"])
        // The new null item is rejected once; the old rejects are not written again.
        let newRejects = newFiles.filter { $0.key.hasPrefix("rejects/") }.flatMap(\.value)
        XCTAssertEqual(newRejects.count, 1, "\(newRejects)")
        XCTAssertEqual(newRejects.first?["reason"] as? String, "unavailable")
        // Membership matches the emulator's, less the two entries rejected by design (the
        // id-less track and the string duration at positions 6 and 7, which the emulator knows
        // by internal ids).
        var expected = try h.truthMembership(only: [basic, edge, unicode, empty])
        let edgeTruth = (try h.emulator.truth()["playlists"] as! [[String: Any]]).first { $0["id"] as? String == edge }!
        for e in edgeTruth["entries"] as! [[String: Any]] where [6, 7].contains(e["position"] as! Int) {
            let key = e["item_key"] as! String
            expected[edge]![key]! -= 1
            if expected[edge]![key]! == 0 { expected[edge]![key] = nil }
        }
        XCTAssertEqual(Harness.netMembership(try h.rows(.playlistItems)), expected)
    }

    /// 429 with Retry-After in seconds and as an HTTP-date: no request before it expires; a long
    /// one defers the work (exit 75) and survives a restart.
    func testRetryAfterIsHonouredAcrossRestarts() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 6, items: 120, seed: 5))
        try h.emulator.setFaults([["path_regex": "/v1/playlists/.*/items", "status": 429, "retry_after": "2", "count": 1, "after": 2]])
        let r1 = try h.once(maxWait: 30)
        XCTAssertEqual(r1.status, 0, r1.stdout + r1.stderr.suffix(1500))
        XCTAssertEqual(try h.emulator.violations(), 0)

        _ = try h.emulator.mutateRandom(seed: 1, playlists: 6)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let date = f.string(from: Date().addingTimeInterval(3))
        try h.emulator.clearFaults()
        try h.emulator.setFaults([["path_regex": "/v1/playlists/", "status": 429, "retry_after": date, "count": 1]])
        let r2 = try h.once(maxWait: 30)
        XCTAssertEqual(r2.status, 0, r2.stdout + r2.stderr.suffix(1500))
        XCTAssertEqual(try h.emulator.violations(), 0)
        XCTAssertEqual(Harness.netMembership(try h.rows(.playlistItems)), try h.truthMembership())

        // A long Retry-After: deferred, exit 75; the park is persisted, so a restart sends nothing.
        _ = try h.emulator.mutateRandom(seed: 2, playlists: 6)
        try h.emulator.clearFaults()
        try h.emulator.setFaults([["path_regex": "/v1/playlists/", "status": 429, "retry_after": "3600", "count": 1]])
        let r3 = try h.once(maxWait: 2)
        XCTAssertEqual(r3.status, 75, r3.stdout)
        XCTAssertTrue(r3.stdout.contains("deferred"), r3.stdout)
        try h.emulator.resetStats()
        let r4 = try h.once(maxWait: 2)
        XCTAssertEqual(r4.status, 75, r4.stdout)
        let byRoute = try h.emulator.stats()["by_route"] as! [String: Int]
        XCTAssertNil(byRoute["playlist"], "a request was sent inside the persisted Retry-After window: \(byRoute)")
        XCTAssertEqual(try h.emulator.violations(), 0)
    }

    /// 5xx bursts are retried, a 401 mid-scan refreshes the token once, and a malformed body
    /// affects only its playlist, which catches up on the next run.
    func testRetriesTokenRefreshAndMalformedBodies() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 5, items: 150, seed: 9))
        let ids = h.playlistIDs
        try h.emulator.setFaults([
            ["path_regex": "/v1/playlists/\(ids[0])/items", "status": 503, "count": 2],
            // 150 items: the embedded 100, then one /items page, which answers 401 once.
            ["path_regex": "/v1/playlists/\(ids[1])/items", "status": 401, "count": 1],
            ["path_regex": "/v1/playlists/\(ids[2])/items", "status": 200, "body": "{\"items\": [ {\"added_at\": ", "count": -1],
        ])
        let r1 = try h.once()
        XCTAssertEqual(r1.status, 75, "a malformed playlist is retried next run: \(r1.stdout)")
        XCTAssertTrue(r1.stdout.contains("failed (will retry): \(ids[2])"), r1.stdout)
        let stats = try h.emulator.stats()["by_route"] as! [String: Int]
        XCTAssertGreaterThanOrEqual(stats["token"] ?? 0, 2, "the 401 made the client refresh its token")
        let others = Set(ids).subtracting([ids[2]])
        XCTAssertEqual(Harness.netMembership(try h.rows(.playlistItems)), try h.truthMembership(only: others))
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM watermarks WHERE playlist_id = '\(ids[2])' AND snapshot_id IS NOT NULL"), "0")
        XCTAssertTrue(try h.sqlite("SELECT last_error FROM watermarks WHERE playlist_id = '\(ids[2])'").contains("malformed"))

        try h.emulator.clearFaults()
        let r2 = try h.once()
        XCTAssertEqual(r2.status, 0, r2.stdout)
        XCTAssertEqual(Harness.netMembership(try h.rows(.playlistItems)), try h.truthMembership())
    }

    /// Bad config: exit 78 with one line naming the file and the key.
    func testBadConfigExits78() throws {
        let h = try Harness(.init(scenario: "small"))
        let bad = h.dir.appendingPathComponent("bad.toml")
        try String(contentsOf: h.configURL, encoding: .utf8).replacingOccurrences(of: "interval = \"15m\"", with: "interval = \"soon\"")
            .write(to: bad, atomically: true, encoding: .utf8)
        let r = try h.run(["run", "--once", "--config", bad.path])
        XCTAssertEqual(r.status, 78)
        XCTAssertTrue(r.stderr.contains(bad.path) && r.stderr.contains("schedule.interval"), r.stderr)
        let c = try h.run(["check-config", "--config", bad.path])
        XCTAssertEqual(c.status, 78)
        XCTAssertEqual(try h.run(["check-config", "--config", h.configURL.path]).stdout, "ok\n")

        var env = h.environment
        env["SPOTIFY_CLIENT_SECRET"] = nil
        let noSecret = try h.run(["run", "--once", "--config", h.configURL.path], env: env)
        XCTAssertEqual(noSecret.status, 78)
        XCTAssertTrue(noSecret.stderr.contains("SPOTIFY_CLIENT_SECRET"), noSecret.stderr)
        XCTAssertFalse(noSecret.stderr.contains(h.emulator.options.clientID + ":"), "no secret material in errors")
    }
}

/// Artist enrichment that fails is retried on a later run, and a playlist edited during its
/// scan is scanned again.
final class EnrichmentAndRescanTests: XCTestCase {
    func testFailedEnrichmentIsRetriedLater() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 2, items: 30, seed: 12))
        try h.emulator.setFaults([["path_regex": "/v1/artists", "status": 503, "count": -1]])
        let r1 = try h.once()
        XCTAssertEqual(r1.status, 0, r1.stdout)
        let first = try h.rows(.artists)
        XCTAssertFalse(first.isEmpty)
        XCTAssertTrue(first.allSatisfy { $0["genres"] is NSNull }, "enrichment failed, so genres are null")
        XCTAssertNotEqual(try h.sqlite("SELECT count(*) FROM seen WHERE kind = 'artist' AND complete = 0"), "0")

        try h.emulator.clearFaults()
        let r2 = try h.once()
        XCTAssertEqual(r2.status, 0, r2.stdout)
        XCTAssertTrue(r2.stdout.contains("0 changed"), "no playlist changed: \(r2.stdout)")
        let all = try h.rows(.artists)
        let completed = all.filter { !($0["genres"] is NSNull) }
        XCTAssertEqual(Set(completed.map { $0["artist_id"] as! String }), Set(first.map { $0["artist_id"] as! String }),
                       "every incomplete artist was written again with its genres")
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM seen WHERE kind = 'artist' AND complete = 0"), "0")

        // Nothing incomplete any more: an unchanged run makes only the metadata requests.
        try h.emulator.resetStats()
        _ = try h.once()
        XCTAssertNil((try h.emulator.stats()["by_route"] as! [String: Int])["artists_batch"])
    }

    func testSnapshotChangingMidScanRestartsTheScan() throws {
        // 400 items: the embedded 100, then 6 slow /items pages, 2.4 s in all.
        let h = try Harness(.init(scenario: "generated", playlists: 1, items: 400, seed: 13))
        let id = h.playlistIDs[0]
        // The emulator answers slowly, and the playlist is edited while its pages are read.
        try h.emulator.setFaults([["path_regex": "/v1/playlists/\(id)/items", "status": 0, "delay_ms": 400, "count": -1]])
        let (p, _, _) = try h.launch(["run", "--once", "--config", h.configURL.path])
        usleep(900_000)
        _ = try h.emulator.mutate(id, [["op": "add", "count": 3], ["op": "remove", "positions": [0]]])
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let items = (try h.emulator.stats()["by_route"] as! [String: Int])["items"] ?? 0
        XCTAssertGreaterThan(items, 6, "the scan was not restarted (\(items) item pages)")
        // What was committed is the settled snapshot, not a mix.
        XCTAssertEqual(Harness.netMembership(try h.rows(.playlistItems)), try h.truthMembership())
        let snap = try h.sqlite("SELECT snapshot_id FROM watermarks WHERE playlist_id = '\(id)'")
        let truthSnap = ((try h.emulator.truth()["playlists"] as! [[String: Any]])[0]["snapshot_id"] as! String)
        XCTAssertEqual(snap, truthSnap)
    }
}
