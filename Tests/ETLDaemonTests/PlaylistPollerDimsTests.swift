import ETLCore
import ETLDaemon
import ETLState
import Foundation
import Logging
import XCTest

/// Track dimension fingerprints in the poller: a seen track whose stored fingerprint matches
/// its entry costs no album or artist lookup (nor an artist fetch); anything else is looked
/// up as before and the fingerprint recorded — and no dimension row is ever lost.
final class PlaylistPollerDimsTests: XCTestCase {
    /// Serves scripted playlists (one page each) and full artists, counting artist requests.
    // @unchecked Sendable: a scripted test double, driven from the test's own thread only.
    final class ScriptedSource: PlaylistPoller.Source, @unchecked Sendable {
        struct Playlist { var snapshot: String; var entries: [String] }
        var playlists: [String: Playlist] = [:]
        var artistsAsked: [String] = []
        /// Ids `/artists` answers with null.
        var unknownArtists: Set<String> = []

        func playlist(_ id: String) throws -> Data {
            guard let p = playlists[id] else { throw ScriptError.unknown(id) }
            return Data("""
                {"id":"\(id)","snapshot_id":"\(p.snapshot)","name":"Playlist \(id)","items":{"total":\(p.entries.count)}}
                """.utf8)
        }

        /// No embedded page here: the poller reads `/items` from offset 0, then re-checks.
        func playlistSnapshot(_ id: String) throws -> Data { try playlist(id) }

        func itemsPage(_ id: String, offset: Int) throws -> Data {
            guard let p = playlists[id] else { throw ScriptError.unknown(id) }
            return Data("""
                {"href":"https://api.spotify.com/v1/playlists/\(id)/items?offset=0&limit=50","items":[\(p.entries.joined(separator: ","))],\
                "limit":50,"next":null,"offset":0,"previous":null,"total":\(p.entries.count)}
                """.utf8)
        }

        func itemsPage(url: String) throws -> Data { throw ScriptError.unknown(url) }

        func artists(_ ids: [String]) throws -> [String: Data?] {
            artistsAsked.append(contentsOf: ids)
            var out: [String: Data?] = [:]
            for id in ids {
                if unknownArtists.contains(id) { out[id] = .some(nil); continue }
                out[id] = Data("""
                    {"id":"\(id)","name":"Artist \(id)","genres":["pop"],"followers":{"total":1},"popularity":5,"type":"artist"}
                    """.utf8)
            }
            return out
        }
    }

    enum ScriptError: Error { case unknown(String) }

    static func artist(_ id: String) -> String {
        "{\"id\":\"\(id)\",\"name\":\"Artist \(id)\",\"type\":\"artist\",\"uri\":\"spotify:artist:\(id)\"}"
    }

    /// A playlist entry with a full track object (as `item` and `track`).
    static func entry(track id: String, album: String, albumArtists: [String], artists: [String]) -> String {
        let item = """
            {"album":{"album_type":"album","artists":[\(albumArtists.map(artist).joined(separator: ","))],"id":"\(album)",\
            "name":"Album \(album)","release_date":"2020-01-02","release_date_precision":"day","total_tracks":10,\
            "type":"album","uri":"spotify:album:\(album)"},"artists":[\(artists.map(artist).joined(separator: ","))],\
            "disc_number":1,"duration_ms":200000,"explicit":false,"external_ids":{"isrc":"QZ0000000001"},"id":"\(id)",\
            "is_local":false,"name":"Song \(id)","popularity":50,"track_number":1,"type":"track","uri":"spotify:track:\(id)"}
            """
        return "{\"added_at\":\"2026-03-01T12:00:00Z\",\"added_by\":null,\"is_local\":false,\"item\":\(item),\"track\":\(item)}"
    }

    var state: StateStore!
    var source: ScriptedSource!
    var poller: PlaylistPoller!

    override func setUpWithError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pollerdims-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        state = try StateStore(path: dir.appendingPathComponent("state.db").path)
        source = ScriptedSource()
        poller = PlaylistPoller(source: source, state: state, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    /// Polls and expects a committed change.
    func poll(_ id: String, _ snapshot: String, _ entries: [String], file: StaticString = #filePath, line: UInt = #line) {
        source.playlists[id] = .init(snapshot: snapshot, entries: entries)
        guard case .changed = poller.poll(id) else { return XCTFail("poll of \(id) did not commit", file: file, line: line) }
    }

    /// Ids of the outbox rows written so far for `table` (sealed and read back), in order.
    func writtenIDs(_ table: Table) throws -> [String] {
        _ = try state.seal(now: Date(), maxRows: 1_000_000, maxBytes: 1 << 40, maxAge: 0, force: true) { t, id, _ in "\(t.rawValue)/\(id)" }
        var out: [String] = []
        for b in try state.unuploadedBatches() where b.table == table {
            try state.forEachRow(ofBatch: b.batchID) { values in
                if case .string(let id) = values[0] { out.append(id) }
            }
        }
        return out
    }

    func lookups(_ kind: DimensionKind) -> Int { state.seenLookupCounts()[kind] ?? 0 }

    func dims(_ track: String) throws -> UInt64? { try state.seenRecords(kind: .track, ids: [track])[track]?.dims }

    // (a) A new track with a new album and artists writes all their rows and its fingerprint.
    func testNewTrackWritesTrackAlbumArtistRowsAndItsFingerprint() throws {
        poll("p1", "s1", [Self.entry(track: "t1", album: "l1", albumArtists: ["a1"], artists: ["a1", "a2"])])
        XCTAssertEqual(try writtenIDs(.tracks), ["t1"])
        XCTAssertEqual(try writtenIDs(.albums), ["l1"])
        XCTAssertEqual(Set(try writtenIDs(.artists)), ["a1", "a2"])
        XCTAssertEqual(Set(source.artistsAsked), ["a1", "a2"])
        XCTAssertEqual(try state.seenStates(kind: .artist, ids: ["a1", "a2"]), ["a1": .complete, "a2": .complete])
        XCTAssertEqual(try dims("t1"), DimsFingerprint.of(albumID: "l1", artistIDs: ["a1", "a2"]))
    }

    // (b) A seen track with a matching fingerprint: no album or artist lookup, no artist
    // fetch — whether it is a member of the polled playlist or not. An incomplete artist
    // among its artists is left to EnrichmentSweep, which completes it.
    func testSeenTrackWithMatchingFingerprintCostsNoAlbumOrArtistLookup() throws {
        let e1 = Self.entry(track: "t1", album: "l1", albumArtists: ["a1"], artists: ["a1", "a2"])
        try state.seedSeen([SeenMark(.track, "t1", complete: true, dims: DimsFingerprint.of(albumID: "l1", artistIDs: ["a2", "a1"]))])
        try state.seedSeen(kind: .album, ids: ["l1"], complete: true)
        try state.seedSeen(kind: .artist, ids: ["a1"], complete: true)
        try state.seedSeen(kind: .artist, ids: ["a2"], complete: false)  // its enrichment failed once

        let (albums0, artists0) = (lookups(.album), lookups(.artist))
        poll("p1", "s1", [e1])  // t1 not a member of p1 yet
        poll("p1", "s2", [e1, e1])  // now a member
        poll("p2", "s1", [e1])  // another playlist
        XCTAssertEqual(lookups(.album), albums0, "no album lookup")
        XCTAssertEqual(lookups(.artist), artists0, "no artist lookup")
        XCTAssertEqual(source.artistsAsked, [], "no artist fetched")
        XCTAssertEqual(try writtenIDs(.tracks), [])
        XCTAssertEqual(try writtenIDs(.albums), [])
        XCTAssertEqual(try writtenIDs(.artists), [])

        let sweep = EnrichmentSweep(source: source, state: state, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        XCTAssertEqual(sweep.run(), 1)
        XCTAssertEqual(try writtenIDs(.artists), ["a2"])
        XCTAssertEqual(try state.seenState(kind: .artist, id: "a2"), .complete)
    }

    // (c) A seen track whose album or artists changed: rows for the new, never seen ids, and
    // the new fingerprint recorded (no track row: the track itself is not new).
    func testSeenTrackWithChangedDimensionsWritesTheNewIdsAndRecordsItsFingerprint() throws {
        poll("p1", "s1", [Self.entry(track: "t1", album: "l1", albumArtists: ["a1"], artists: ["a1"])])
        XCTAssertEqual(try writtenIDs(.tracks), ["t1"])
        source.artistsAsked = []

        // Re-released on another album, with a featured artist; a1 stays.
        poll("p2", "s1", [Self.entry(track: "t1", album: "l2", albumArtists: ["a1"], artists: ["a1", "a3"])])
        XCTAssertEqual(try writtenIDs(.tracks), ["t1"], "the track row is not written again")
        XCTAssertEqual(try writtenIDs(.albums), ["l1", "l2"])
        XCTAssertEqual(try writtenIDs(.artists), ["a1", "a3"])
        XCTAssertEqual(source.artistsAsked, ["a3"], "a1 is complete: looked up, not fetched")
        XCTAssertEqual(try dims("t1"), DimsFingerprint.of(albumID: "l2", artistIDs: ["a1", "a3"]))

        // The new fingerprint now covers the track: no more lookups for it.
        let (albums0, artists0) = (lookups(.album), lookups(.artist))
        poll("p3", "s1", [Self.entry(track: "t1", album: "l2", albumArtists: ["a1"], artists: ["a3", "a1"])])
        XCTAssertEqual(lookups(.album), albums0)
        XCTAssertEqual(lookups(.artist), artists0)
    }

    // Members of the polled playlist carry their fingerprint in the stored membership: a
    // re-poll costs no track lookup for a member whose fingerprint is unchanged, and a member
    // whose album changed is looked up and gets its new album row.
    func testMembersWithUnchangedFingerprintCostNoTrackLookup() throws {
        let e1 = Self.entry(track: "t1", album: "l1", albumArtists: ["a1"], artists: ["a1"])
        let e2 = Self.entry(track: "t2", album: "l2", albumArtists: ["a2"], artists: ["a2"])
        poll("p1", "s1", [e1, e2])
        XCTAssertEqual(try state.members("p1").map(\.dims),
                       [DimsFingerprint.of(albumID: "l1", artistIDs: ["a1"]), DimsFingerprint.of(albumID: "l2", artistIDs: ["a2"])])
        let (tracks0, albums0, artists0) = (lookups(.track), lookups(.album), lookups(.artist))
        poll("p1", "s2", [e2, e1, Self.entry(track: "t3", album: "l1", albumArtists: ["a1"], artists: ["a1"])])
        XCTAssertEqual(lookups(.track) - tracks0, 1 + 1, "only the new track t3, and its re-check under the commit lock")
        XCTAssertEqual(lookups(.album), albums0 + 1, "t3's album, as t3 is not covered")
        XCTAssertEqual(lookups(.artist), artists0 + 1)
        XCTAssertEqual(try writtenIDs(.tracks), ["t1", "t2", "t3"])

        // t2 moved to a new album: its member fingerprint no longer matches, so it is looked
        // up like any other track, and the new album is written.
        let (tracks1, albums1) = (lookups(.track), lookups(.album))
        poll("p1", "s3", [Self.entry(track: "t2", album: "l9", albumArtists: ["a2"], artists: ["a2"]), e1])
        XCTAssertEqual(lookups(.track) - tracks1, 1, "t2 only; t1 is covered by its member fingerprint")
        XCTAssertEqual(lookups(.album) - albums1, 1)
        XCTAssertEqual(try writtenIDs(.albums), ["l1", "l2", "l9"])
        XCTAssertEqual(try state.members("p1").first?.dims, DimsFingerprint.of(albumID: "l9", artistIDs: ["a2"]))
    }

    // (d) A seen track without a fingerprint (written before the migration) is looked up as
    // before — finding everything seen, nothing is written — and then has its fingerprint.
    func testTrackWithoutFingerprintIsLookedUpAsBeforeThenRecordsIt() throws {
        let e1 = Self.entry(track: "t1", album: "l1", albumArtists: ["a1"], artists: ["a2"])
        try state.seedSeen(kind: .track, ids: ["t1"], complete: true)
        try state.seedSeen(kind: .album, ids: ["l1"], complete: true)
        try state.seedSeen(kind: .artist, ids: ["a1", "a2"], complete: true)
        XCTAssertNil(try dims("t1"))

        let (albums0, artists0) = (lookups(.album), lookups(.artist))
        poll("p1", "s1", [e1])
        XCTAssertEqual(lookups(.album) - albums0, 1, "the album is looked up")
        XCTAssertGreaterThanOrEqual(lookups(.artist) - artists0, 2, "both artists are looked up")
        XCTAssertEqual(try writtenIDs(.tracks), [])
        XCTAssertEqual(try writtenIDs(.albums), [])
        XCTAssertEqual(try writtenIDs(.artists), [])
        XCTAssertEqual(source.artistsAsked, [], "complete artists are not fetched")
        XCTAssertEqual(try dims("t1"), DimsFingerprint.of(albumID: "l1", artistIDs: ["a1", "a2"]))

        let (albums1, artists1) = (lookups(.album), lookups(.artist))
        poll("p1", "s2", [e1, e1])
        XCTAssertEqual(lookups(.album), albums1)
        XCTAssertEqual(lookups(.artist), artists1)
    }

    /// The same lookups for a pre-migration track whose album was never recorded (the state
    /// lost nothing before, and the fingerprint must not hide such a gap): its row is written.
    func testMissingFingerprintNeverHidesAnUnseenAlbumOrArtist() throws {
        try state.seedSeen(kind: .track, ids: ["t1"], complete: true)
        poll("p1", "s1", [Self.entry(track: "t1", album: "l9", albumArtists: ["a9"], artists: ["a9"])])
        XCTAssertEqual(try writtenIDs(.albums), ["l9"])
        XCTAssertEqual(try writtenIDs(.artists), ["a9"])
        XCTAssertEqual(try dims("t1"), DimsFingerprint.of(albumID: "l9", artistIDs: ["a9"]))
    }

    /// A snapshot mixing covered and uncovered tracks that share an artist: the shared artist
    /// is handled as before (looked up, fetched when incomplete, completed).
    func testArtistSharedWithAnUncoveredTrackIsEnrichedAsBefore() throws {
        try state.seedSeen([SeenMark(.track, "t1", complete: true, dims: DimsFingerprint.of(albumID: "l1", artistIDs: ["a1"]))])
        try state.seedSeen(kind: .album, ids: ["l1"], complete: true)
        try state.seedSeen(kind: .artist, ids: ["a1"], complete: false)
        poll("p1", "s1", [Self.entry(track: "t1", album: "l1", albumArtists: ["a1"], artists: ["a1"]),
                          Self.entry(track: "t2", album: "l2", albumArtists: ["a1"], artists: ["a1"])])
        XCTAssertEqual(try writtenIDs(.tracks), ["t2"])
        XCTAssertEqual(try writtenIDs(.albums), ["l2"])
        XCTAssertEqual(try writtenIDs(.artists), ["a1"], "incomplete a1 completed by the poll, as before")
        XCTAssertEqual(source.artistsAsked, ["a1"])
        XCTAssertEqual(try state.seenState(kind: .artist, id: "a1"), .complete)
    }
}
