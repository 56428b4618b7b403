import ETLCore
import ETLHTTP
import ETLTransform
import Foundation
import Logging
import XCTest
@testable import ETLExtraction

/// Item pages requested with the `ItemFields` filter, against the real emulator (whose
/// `apply_fields` implements Spotify's `fields` syntax): the filter loses no key the transform
/// reads, it is sent on every page, and an API that ignores `item(...)` makes the client fall
/// back to `track(...)`.
final class ItemFieldsEmulatorTests: XCTestCase {
    var emulator: Emulator!
    let transport = CurlHTTPClient()
    let logs = CapturedLogs()

    override func setUpWithError() throws { emulator = try Emulator() }

    override func tearDown() {
        emulator?.stop()
        emulator = nil
    }

    func client(capabilities: CapabilityStore = InMemoryCapabilityStore(), filtered: Bool = true) -> SpotifyClient {
        let tokens = TokenProvider(credentials: SpotifyCredentials(clientID: Emulator.clientID, clientSecret: Emulator.clientSecret),
                                   grant: .clientCredentials, accountsURL: emulator.accountsURL, transport: transport,
                                   timeout: 10, sleeper: RecordingSleeper(), logger: logs.logger())
        let c = SpotifyClient(settings: SpotifyClientSettings(apiURL: emulator.apiURL, accountsURL: emulator.accountsURL, timeout: 10),
                              tokens: tokens, gate: RateGate(store: InMemoryGateStore()), transport: transport,
                              capabilities: capabilities, logger: logs.logger(), sleeper: RecordingSleeper())
        c.requestsItemFields = filtered
        return c
    }

    /// Every page of a playlist, raw, following `next`.
    func pages(_ c: SpotifyClient, _ id: String) throws -> [Data] {
        var out = [try c.itemsPage(id, offset: 0)]
        while let next = try decodeItemsPage(out[out.count - 1]).next {
            out.append(try c.itemsPage(url: next))
            XCTAssertLessThan(out.count, 100)
        }
        return out
    }

    func object(_ data: Data) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func recentItemRequests() throws -> [String] {
        let recent = try XCTUnwrap(try emulator.stats()["recent"] as? [String])
        return recent.filter { $0.contains("/items") || $0.hasSuffix("/tracks") || $0.contains("/tracks?") }
    }

    /// Same facts entry by entry; rejects with the same reason and position (their raw differs).
    func assertSameFacts(_ a: [ParsedEntry], _ b: [ParsedEntry], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) {
            if case .reject(let xr, _, let xp) = x, case .reject(let yr, _, let yp) = y {
                XCTAssertEqual(xr, yr, file: file, line: line); XCTAssertEqual(xp, yp, file: file, line: line)
            } else {
                XCTAssertEqual(x, y, file: file, line: line)
            }
        }
    }

    func mutate(_ id: String, _ ops: [[String: Any]]) throws {
        try emulator.control("POST", "/mutate", json: ["playlist_id": id, "ops": ops])
    }

    /// A playlist of hand-made entries, built from full entries the emulator serves (track,
    /// episode, local file), each broken in one way: every reject reason `parseEntry` can give,
    /// and the nullable fields of the wrong type that become null.
    func brokenEntriesPlaylist() throws -> (id: String, expected: [String?]) {
        let edge = try XCTUnwrap(try emulator.truth()["playlists"] as? [[String: Any]])
            .first { ($0["name"] as? String) == "Edge Cases" }
        let edgeID = try XCTUnwrap(edge?["id"] as? String)
        let full = client(filtered: false)
        let entries = try XCTUnwrap(try object(full.itemsPage(edgeID, offset: 0))["items"] as? [[String: Any]])
        let track = entries[0], local = entries[3], episode = entries[4]
        XCTAssertEqual((track["item"] as? [String: Any])?["type"] as? String, "track")
        XCTAssertEqual(local["is_local"] as? Bool, true)
        XCTAssertEqual((episode["item"] as? [String: Any])?["type"] as? String, "episode")

        /// `base` with its item object (under `item` and `track` alike) changed by `change`.
        func item(_ base: [String: Any], _ change: (inout [String: Any]) -> Void) -> [String: Any] {
            var e = base
            var obj = base["item"] as! [String: Any]
            change(&obj)
            e["item"] = obj
            e["track"] = obj
            return e
        }
        func album(_ change: @escaping (inout [String: Any]) -> Void) -> [String: Any] {
            item(track) { t in
                var a = t["album"] as! [String: Any]
                change(&a)
                t["album"] = a
            }
        }
        func entry(_ base: [String: Any], _ change: (inout [String: Any]) -> Void) -> [String: Any] {
            var e = base
            change(&e)
            return e
        }
        let cases: [(Any, String?)] = [
            (item(track) { $0.removeValue(forKey: "type") }, RejectReason.unknownType),
            (item(track) { $0["type"] = "audiobook" }, RejectReason.unknownType),
            (item(track) { $0["id"] = "" }, RejectReason.missingID),
            (item(episode) { $0.removeValue(forKey: "id") }, RejectReason.missingID),
            (item(track) { $0["name"] = 5 }, RejectReason.missingName),
            (item(episode) { $0.removeValue(forKey: "name") }, RejectReason.missingName),
            (item(track) { $0["duration_ms"] = -1 }, RejectReason.invalidDuration),
            (item(episode) { $0["duration_ms"] = 1.5 }, RejectReason.invalidDuration),
            (item(track) { $0["explicit"] = "yes" }, RejectReason.invalidExplicit),
            (item(episode) { $0.removeValue(forKey: "explicit") }, RejectReason.invalidExplicit),
            (item(track) { $0["track_number"] = "3" }, RejectReason.invalidTrackNumber),
            (item(track) { $0.removeValue(forKey: "disc_number") }, RejectReason.invalidDiscNumber),
            (item(track) { $0["artists"] = "Björk" }, RejectReason.missingArtists),
            (item(track) { $0["artists"] = [["name": "no id"]] }, RejectReason.missingArtistID),
            (item(track) { $0["artists"] = [42] }, RejectReason.missingArtistID),
            (item(track) { $0["album"] = "Homogenic" }, RejectReason.missingAlbum),
            (album { $0.removeValue(forKey: "id") }, RejectReason.missingAlbumID),
            (album { $0["name"] = NSNull() }, RejectReason.invalidAlbum),
            (album { $0["album_type"] = "" }, RejectReason.invalidAlbum),
            (album { $0["total_tracks"] = "10" }, RejectReason.invalidAlbum),
            (album { $0["release_date"] = "1997-13-45" }, RejectReason.invalidReleaseDate),
            (album { $0["release_date_precision"] = "year" }, RejectReason.invalidReleaseDate),
            (album { $0["artists"] = ["id": "x"] }, RejectReason.missingArtists),
            (album { $0["artists"] = [["id": "x"]] }, RejectReason.missingArtistID),
            (item(episode) { $0["show"] = "Emulated Talk" }, RejectReason.missingShow),
            (item(episode) { $0["show"] = ["name": "no id"] }, RejectReason.missingShowID),
            (item(local) { $0["uri"] = "file:///music/x.mp3" }, RejectReason.invalidLocalURI),
            (item(local) { $0["is_local"] = false }, nil),  // still local: the entry's is_local, no id
            (entry(track) { $0["added_at"] = "yesterday" }, RejectReason.invalidAddedAt),
            (entry(track) { $0["added_at"] = 5 }, RejectReason.invalidAddedAt),
            (entry(track) { $0["item"] = 42; $0["track"] = 42 }, RejectReason.invalidItem),
            (entry(track) { $0["item"] = "x"; $0["track"] = NSNull() }, RejectReason.invalidItem),
            (entry(track) { $0["item"] = NSNull(); $0["track"] = NSNull() }, RejectReason.unavailable),
            (entry(track) { $0.removeValue(forKey: "item"); $0.removeValue(forKey: "track") }, RejectReason.malformedEntry),
            (42, RejectReason.malformedEntry),
            ("entry", RejectReason.malformedEntry),
            // Not rejects: nullable columns of the wrong type become null.
            (item(track) { $0["popularity"] = "high" }, nil),
            (item(track) { $0["external_ids"] = "QZ123" }, nil),
            (item(track) { $0["external_ids"] = ["isrc": 7] }, nil),
            (item(track) { $0["uri"] = 7 }, nil),
            (item(episode) { $0["release_date"] = 2025 }, nil),
            (item(episode) { $0["show"] = ["id": "S1"] }, nil),
            (entry(track) { $0["added_by"] = "emu_owner" }, nil),
            (entry(track) { $0["added_by"] = ["id": 5] }, nil),
            (entry(track) { $0["added_at"] = NSNull(); $0["added_by"] = NSNull() }, nil),
            (entry(local) { $0["item"] = (local["item"] as! [String: Any]).filter { $0.key != "is_local" } }, nil),
        ]
        let r = try XCTUnwrap(try emulator.control("POST", "/playlists", json: ["name": "broken entries"]) as? [String: Any])
        let id = try XCTUnwrap(r["id"] as? String)
        try mutate(id, cases.map { ["op": "add_raw", "entry": $0.0] })
        return (id, cases.map(\.1))
    }

    // MARK: - Equivalence

    /// The proof that no key was forgotten: for every entry of every readable playlist (tracks,
    /// episodes, local files, null items, null added_at/added_by, unicode names, the
    /// emulator's malformed tracks, a paged playlist, and hand-broken entries for every reject
    /// reason), the transform's result from the filtered page equals its result from the full
    /// page — except a reject's `raw`, which is the filtered entry.
    func testFilteredPagesParseExactlyLikeFullPages() throws {
        let broken = try brokenEntriesPlaylist()
        let paged = try emulator.createPlaylist(items: 160)
        try mutate(paged, [["op": "add_episode"], ["op": "add_local"], ["op": "add_null"], ["op": "add_episode"]])
        var ids = try XCTUnwrap(try emulator.truth()["playlists"] as? [[String: Any]]).compactMap { p -> String? in
            guard (p["owned"] as? Bool) == true, (p["dev_restricted"] as? Bool) != true, (p["not_found"] as? Bool) != true
            else { return nil }
            return p["id"] as? String
        }
        XCTAssertTrue(ids.contains(broken.id) && ids.contains(paged))
        ids.sort()

        let filtered = client(), full = client(filtered: false)
        var compared = 0, reasons: [String: Int] = [:], kinds: Set<String> = []
        var filteredBytes = 0, fullBytes = 0
        for id in ids {
            let fPages = try pages(filtered, id), uPages = try pages(full, id)
            XCTAssertEqual(fPages.count, uPages.count, id)
            for (fBody, uBody) in zip(fPages, uPages) {
                filteredBytes += fBody.count; fullBytes += uBody.count
                let f = try decodeParsedItemsPage(fBody), u = try decodeParsedItemsPage(uBody)
                let fRaw = try decodeItemsPage(fBody)
                XCTAssertEqual(f.total, u.total); XCTAssertEqual(f.offset, u.offset); XCTAssertEqual(f.limit, u.limit)
                XCTAssertEqual(f.next == nil, u.next == nil)
                XCTAssertEqual(f.entries.count, u.entries.count, id)
                for (k, (fe, ue)) in zip(f.entries, u.entries).enumerated() {
                    compared += 1
                    switch (fe, ue) {
                    case (.reject(let fr, let fraw, let fp), .reject(let ur, let uraw, let up)):
                        XCTAssertEqual(fr, ur, "reject reason differs at \(id)#\(fp): \(fraw)")
                        XCTAssertEqual(fp, up)
                        XCTAssertEqual(fraw, fRaw.entries[k].canonicalText, "raw is the filtered entry")
                        if id == broken.id { XCTAssertEqual(fr, broken.expected[fp], "broken entry #\(fp): \(fraw)") }
                        if uraw.contains("available_markets") { XCTAssertNotEqual(fraw, uraw) }
                        XCTAssertFalse(fraw.contains("available_markets") || fraw.contains("\"href\""), fraw)
                        reasons[fr, default: 0] += 1
                    default:
                        XCTAssertEqual(fe, ue, "\(id)#\(f.offset + k)")
                        if id == broken.id { XCTAssertNil(broken.expected[f.offset + k], "broken entry #\(f.offset + k): \(fe)") }
                        switch fe {
                        case .track: kinds.insert("track")
                        case .episode: kinds.insert("episode")
                        case .local: kinds.insert("local")
                        case .reject: kinds.insert("reject")
                        }
                    }
                }
            }
        }
        // The comparison covered what it claims to.
        XCTAssertGreaterThan(compared, 200)
        XCTAssertEqual(kinds, ["track", "episode", "local"])
        XCTAssertEqual(Set(reasons.keys), Set(RejectReason.all), "every reject reason exercised")
        XCTAssertLessThan(filteredBytes * 3, fullBytes, "filtered pages are a fraction of full ones")
    }

    // MARK: - The request

    func testEveryItemsRequestCarriesTheFilterAndPagesHaveOnlyItsKeys() throws {
        let id = try emulator.createPlaylist(items: 120)
        try emulator.control("POST", "/stats/reset")
        let c = client()
        let bodies = try pages(c, id)
        XCTAssertEqual(bodies.count, 3)
        let requests = try recentItemRequests()
        XCTAssertEqual(requests.count, 3, "\(requests)")
        for r in requests {
            XCTAssertEqual(ItemFields.fields(in: r), ItemFields.items, r)
        }
        XCTAssertTrue(requests[0].contains("fields=" + URLEncoding.encode(ItemFields.items)), "first page percent-encoded")
        for body in bodies {
            XCTAssertFalse(ItemFields.containsKey("track", in: body), "no deprecated alias")
            for unread in ["available_markets", "href", "external_urls", "images", "preview_url", "previous",
                           "video_thumbnail", "primary_color"] {
                XCTAssertFalse(String(decoding: body, as: UTF8.self).contains(unread), unread)
            }
            let page = try object(body)
            XCTAssertEqual(Set(page.keys).subtracting(["next"]), ["items", "limit", "offset", "total"])
            for e in try XCTUnwrap(page["items"] as? [[String: Any]]) {
                XCTAssertEqual(Set(e.keys), ["added_at", "added_by", "is_local", "item"])
                if let by = e["added_by"] as? [String: Any] { XCTAssertEqual(Array(by.keys), ["id"]) }
            }
            if let next = page["next"] as? String { XCTAssertEqual(ItemFields.fields(in: next), ItemFields.items, "next carries fields") }
        }
        XCTAssertFalse(c.itemFieldsFallBackToTrack)

        // A next URL without the filter (or with another one) is requested with it.
        try emulator.control("POST", "/stats/reset")
        let bare = emulator.apiURL + "/playlists/\(id)/items?limit=50&offset=50"
        let body = try c.itemsPage(url: bare)
        XCTAssertEqual(try decodeItemsPage(body).entries.count, 50)
        XCTAssertEqual(try recentItemRequests().map { ItemFields.fields(in: $0) }, [ItemFields.items])
    }

    func testLegacyEndpointGetsTheFieldsUnderTrack() throws {
        let caps = InMemoryCapabilityStore([Capability.itemsEndpoint: Capability.itemsLegacy])
        let id = try emulator.createPlaylist(items: 60)
        try emulator.control("POST", "/stats/reset")
        let c = client(capabilities: caps)
        let bodies = try pages(c, id)
        XCTAssertEqual(bodies.count, 2)
        let requests = try recentItemRequests()
        XCTAssertEqual(requests.count, 2)
        XCTAssertTrue(requests.allSatisfy { $0.contains("/tracks?") && ItemFields.fields(in: $0) == ItemFields.tracks }, "\(requests)")
        XCTAssertEqual(emulator.routeCount("items"), 0)
        for body in bodies {
            XCTAssertTrue(ItemFields.containsKey("track", in: body))
            XCTAssertFalse(String(decoding: body, as: UTF8.self).contains("available_markets"))
            let parsed = try decodeParsedItemsPage(body)
            XCTAssertTrue(parsed.entries.contains { if case .track = $0 { return true } else { return false } })
        }
        let full = try pages(client(capabilities: caps, filtered: false), id)
        for (f, u) in zip(bodies, full) {
            assertSameFacts(try decodeParsedItemsPage(f).entries, try decodeParsedItemsPage(u).entries)
        }
    }

    // MARK: - item(...) not honoured

    func testEntriesWithoutItemFallBackToTrackOnceAndForTheProcess() throws {
        let playlists = try XCTUnwrap(try emulator.truth()["playlists"] as? [[String: Any]])
        let edge = try XCTUnwrap(playlists.first { ($0["name"] as? String) == "Edge Cases" }?["id"] as? String)
        let basic = try XCTUnwrap(playlists.first { ($0["name"] as? String) == "Basic Mix" }?["id"] as? String)
        let paged = try emulator.createPlaylist(items: 70)
        let expected = try decodeParsedItemsPage(client(filtered: false).itemsPage(edge, offset: 0)).entries
        let nextWithItemFields = try XCTUnwrap(try decodeItemsPage(client().itemsPage(paged, offset: 0)).next)
        XCTAssertEqual(ItemFields.fields(in: nextWithItemFields), ItemFields.items)

        try emulator.control("POST", "/config", json: ["omit_item": true])
        try emulator.control("POST", "/stats/reset")
        let c = client()
        let body = try c.itemsPage(edge, offset: 0)
        XCTAssertTrue(c.itemFieldsFallBackToTrack)
        var requests = try recentItemRequests()
        XCTAssertEqual(requests.map { ItemFields.fields(in: $0) }, [ItemFields.items, ItemFields.tracks], "the page asked again, once")
        XCTAssertTrue(ItemFields.containsKey("track", in: body))
        XCTAssertFalse(String(decoding: body, as: UTF8.self).contains("available_markets"))
        let parsed = try decodeParsedItemsPage(body).entries
        assertSameFacts(parsed, expected)
        guard case .reject(RejectReason.unavailable, _, 2) = parsed[2] else { return XCTFail("a null item stays unavailable: \(parsed[2])") }

        // Remembered: the next pages and playlists ask for track(...) straight away, one request
        // each, and a next URL minted with item(...) is asked with track(...).
        try emulator.control("POST", "/stats/reset")
        _ = try c.itemsPage(basic, offset: 0)
        _ = try c.itemsPage(url: nextWithItemFields)
        requests = try recentItemRequests()
        XCTAssertEqual(requests.map { ItemFields.fields(in: $0) }, [ItemFields.tracks, ItemFields.tracks])
        XCTAssertEqual(logs.lines.filter { $0.contains("items_fields_track_fallback") }.count, 1, "one warning")
    }

    // MARK: - The page embedded in /playlists/{id}

    func recentPlaylistRequests() throws -> [String] {
        try XCTUnwrap(try emulator.stats()["recent"] as? [String]).filter { !$0.contains("/items") }
    }

    /// One request gives the metadata and the first 100 entries, filtered one level down; the
    /// entries make the same facts as the unfiltered `/items` page; `next` points on from 100.
    func testPlaylistAnswerEmbedsTheFilteredFirstPage() throws {
        let playlists = try XCTUnwrap(try emulator.truth()["playlists"] as? [[String: Any]])
        let edge = try XCTUnwrap(playlists.first { ($0["name"] as? String) == "Edge Cases" }?["id"] as? String)
        let expected = try decodeParsedItemsPage(client(filtered: false).itemsPage(edge, offset: 0)).entries
        try emulator.control("POST", "/stats/reset")
        let c = client()
        let body = try c.playlist(edge)
        XCTAssertEqual(try recentPlaylistRequests().map { ItemFields.fields(in: $0) },
                       [ItemFields.playlist(container: "items", itemKey: "item")])
        XCTAssertFalse(ItemFields.containsKey("track", in: body), "no deprecated alias")
        XCTAssertFalse(String(decoding: body, as: UTF8.self).contains("available_markets"))
        let meta = try decodePlaylistMeta(body)
        XCTAssertEqual(meta.id, edge)
        XCTAssertEqual(meta.name, "Edge Cases")
        XCTAssertEqual(meta.total, 10)
        let page = try XCTUnwrap(meta.embeddedItems)
        XCTAssertEqual([page.offset, page.limit, page.total], [0, 100, 10])
        XCTAssertNil(page.next)
        assertSameFacts(page.entries, expected)

        let big = try emulator.createPlaylist(items: 130)
        let first = try XCTUnwrap(try decodePlaylistMeta(c.playlist(big)).embeddedItems)
        XCTAssertEqual([first.entries.count, first.total], [100, 130])
        XCTAssertNotNil(first.next)
        XCTAssertNil(ItemsPageAgreement.check(first, against: ItemsPageRequest(playlistID: big, offset: 0, limit: 100)))
        let rest = try decodeParsedItemsPage(c.itemsPage(big, offset: 100))
        XCTAssertEqual([rest.offset, rest.entries.count], [100, 30])
        XCTAssertNil(rest.next)

        // The snapshot-only request: one key.
        let snap = try object(c.playlistSnapshot(big))
        XCTAssertEqual(Array(snap.keys), ["snapshot_id"])
        XCTAssertEqual(try decodeSnapshotID(c.playlistSnapshot(big)), try decodePlaylistMeta(c.playlist(big)).snapshotID)
    }

    /// Embedded entries without `item` under `item(...)`: the playlist is asked again with
    /// `track(...)`, once, and the choice is kept (for `/items` pages too).
    func testEmbeddedEntriesWithoutItemFallBackToTrack() throws {
        let playlists = try XCTUnwrap(try emulator.truth()["playlists"] as? [[String: Any]])
        let edge = try XCTUnwrap(playlists.first { ($0["name"] as? String) == "Edge Cases" }?["id"] as? String)
        let expected = try decodeParsedItemsPage(client(filtered: false).itemsPage(edge, offset: 0)).entries
        try emulator.control("POST", "/config", json: ["omit_item": true])
        try emulator.control("POST", "/stats/reset")
        let c = client()
        let body = try c.playlist(edge)
        XCTAssertTrue(c.itemFieldsFallBackToTrack)
        XCTAssertEqual(try recentPlaylistRequests().map { ItemFields.fields(in: $0) },
                       [ItemFields.playlist(container: "items", itemKey: "item"),
                        ItemFields.playlist(container: "items", itemKey: "track")])
        assertSameFacts(try XCTUnwrap(try decodePlaylistMeta(body).embeddedItems).entries, expected)
        try emulator.control("POST", "/stats/reset")
        _ = try c.playlist(edge)
        _ = try c.itemsPage(edge, offset: 0)
        let recent = try XCTUnwrap(try emulator.stats()["recent"] as? [String])
        XCTAssertEqual(recent.map { ItemFields.fields(in: $0) },
                       [ItemFields.playlist(container: "items", itemKey: "track"), ItemFields.tracks])
        XCTAssertEqual(logs.lines.filter { $0.contains("items_fields_track_fallback") }.count, 1, "one warning")
    }

    func testEntriesLackingBothKeysStayRejectsWithoutFallback() throws {
        let r = try XCTUnwrap(try emulator.control("POST", "/playlists", json: ["name": "keyless"]) as? [String: Any])
        let id = try XCTUnwrap(r["id"] as? String)
        try mutate(id, [["op": "add_raw", "entry": ["added_at": "2025-01-01T00:00:00Z", "is_local": false]],
                        ["op": "add_raw", "entry": ["added_at": NSNull()]]])
        let empty = try XCTUnwrap(try emulator.truth()["playlists"] as? [[String: Any]])
            .first { ($0["name"] as? String) == "Empty" }?["id"] as? String
        try emulator.control("POST", "/stats/reset")
        let c = client()
        let body = try c.itemsPage(id, offset: 0)
        XCTAssertFalse(c.itemFieldsFallBackToTrack, "a track(...) page without track does not flip the choice")
        XCTAssertEqual(try recentItemRequests().map { ItemFields.fields(in: $0) }, [ItemFields.items, ItemFields.tracks])
        let parsed = try decodeParsedItemsPage(body).entries
        XCTAssertEqual(parsed.count, 2)
        for (k, p) in parsed.enumerated() {
            guard case .reject(RejectReason.malformedEntry, _, k) = p else { return XCTFail("\(p)") }
        }
        // An empty page has no entries to judge by: one request, no second one.
        try emulator.control("POST", "/stats/reset")
        XCTAssertEqual(try decodeItemsPage(c.itemsPage(try XCTUnwrap(empty), offset: 0)).entries.count, 0)
        XCTAssertEqual(try recentItemRequests().count, 1)
        XCTAssertTrue(logs.lines.allSatisfy { !$0.contains("items_fields_track_fallback") })
    }

    // MARK: - Pure helpers

    func testContainsKeyFindsKeysNotValues() {
        XCTAssertTrue(ItemFields.containsKey("item", in: Data(#"{"items":[{"item" : null}]}"#.utf8)))
        XCTAssertFalse(ItemFields.containsKey("item", in: Data(#"{"items":[{"name":"item"}]}"#.utf8)))
        XCTAssertFalse(ItemFields.containsKey("item", in: Data(#"{"items":[{"name":"item","x":["item"]}]}"#.utf8)))
        XCTAssertFalse(ItemFields.containsKey("item", in: Data(#"{"a\"item":1}"#.utf8)))
        XCTAssertFalse(ItemFields.containsKey("item", in: Data(#"{"items":[]}"#.utf8)))
        XCTAssertTrue(ItemFields.containsKey("track", in: Data(#"{"items":[{"track":{}}]}"#.utf8)))
    }

    func testFieldsURLRewriting() {
        let f = ItemFields.items
        let u = "http://h/v1/playlists/p/items?limit=50&offset=50&fields=" + URLEncoding.encode(f)
        XCTAssertEqual(ItemFields.url(u, withFields: f), u, "already right: unchanged")
        let raw = "http://h/v1/playlists/p/items?limit=50&fields=\(f)&offset=50"
        XCTAssertEqual(ItemFields.url(raw, withFields: f), raw, "unencoded parentheses are the same filter")
        XCTAssertEqual(ItemFields.url("http://h/v1/playlists/p/items?offset=50&fields=x(y)&limit=50", withFields: f),
                       "http://h/v1/playlists/p/items?offset=50&limit=50&fields=" + URLEncoding.encode(f))
        XCTAssertEqual(ItemFields.url("http://h/v1/playlists/p/items", withFields: "a(b)"), "http://h/v1/playlists/p/items?fields=a%28b%29")
        XCTAssertEqual(ItemFields.fields(in: "http://h/x?a=1&fields=a%28b%2Cc%29"), "a(b,c)")
        XCTAssertNil(ItemFields.fields(in: "http://h/x?a=1"))
        XCTAssertEqual(ItemFields.tracks, f.replacingOccurrences(of: ",item(", with: ",track("))
        XCTAssertTrue(SpotifyClient.isLegacyItemsURL("http://h/v1/playlists/p/tracks?offset=1"))
        XCTAssertFalse(SpotifyClient.isLegacyItemsURL("http://h/v1/playlists/p/items?fields=track(id)"))
    }
}
