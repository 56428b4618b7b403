import Foundation
import XCTest
@testable import ETLTransform

final class APIModelsTests: XCTestCase {
    static let nullEntry = #"{"added_at":null,"added_by":null,"item":null,"track":null}"#
    static let playlist2026 = """
    {"collaborative":false,"description":"  Songs for \\u0063oding  ","external_urls":{"spotify":"https://open.spotify.com/playlist/37i9"},\
    "followers":{"href":null,"total":1234},"href":"https://api.spotify.com/v1/playlists/37i9","id":"37i9dQZF1DXcBWIGoYBM5M",\
    "images":[],"name":" Cafe\\u0301 Mix ","owner":{"display_name":"Alice A.","external_urls":{},"href":"","id":"alice","type":"user","uri":"spotify:user:alice"},\
    "primary_color":null,"public":true,"snapshot_id":"AAAAB2Fj","items":\(Fixtures.page([Fixtures.entry(Fixtures.track()), nullEntry], total: 120, next: "https://api.spotify.com/v1/playlists/37i9/items?offset=50&limit=50")),\
    "type":"playlist","uri":"spotify:playlist:37i9dQZF1DXcBWIGoYBM5M"}
    """

    func testPlaylistMetaWithEmbeddedPage() throws {
        let m = try decodePlaylistMeta(Array(Self.playlist2026.utf8))
        XCTAssertEqual(m.id, "37i9dQZF1DXcBWIGoYBM5M")
        XCTAssertEqual(m.snapshotID, "AAAAB2Fj")
        XCTAssertEqual(m.name, "Caf\u{E9} Mix") // trimmed and NFC
        XCTAssertEqual(m.description, "Songs for coding")
        XCTAssertEqual(m.ownerID, "alice")
        XCTAssertEqual(m.ownerName, "Alice A.")
        XCTAssertEqual(m.isPublic, true)
        XCTAssertEqual(m.collaborative, false)
        XCTAssertEqual(m.followers, 1234)
        XCTAssertEqual(m.total, 120)
        let page = try XCTUnwrap(m.embeddedItems)
        XCTAssertEqual(page.entries.count, 2)
        XCTAssertEqual(page.total, 120)
        XCTAssertEqual(page.offset, 0)
        XCTAssertEqual(page.limit, 50)
        XCTAssertEqual(page.next, "https://api.spotify.com/v1/playlists/37i9/items?offset=50&limit=50")
        XCTAssertEqual(try decodePlaylistMeta(Data(Self.playlist2026.utf8)), m)
    }

    func testDevModeMetadataWithoutItemsAndLegacyTracksTotal() throws {
        let summary = #"{"id":"p1","snapshot_id":"s1","name":"x","public":null,"owner":{"id":"bob","display_name":null},"items":{"href":"h","total":7}}"#
        let m = try decodePlaylistMeta(Array(summary.utf8))
        XCTAssertEqual(m.total, 7)
        XCTAssertNil(m.embeddedItems)
        XCTAssertNil(m.isPublic)
        XCTAssertNil(m.ownerName)
        XCTAssertNil(m.followers)
        XCTAssertNil(m.description)
        let legacy = #"{"id":"p1","snapshot_id":"s1","name":"x","tracks":{"href":"h","total":9}}"#
        XCTAssertEqual(try decodePlaylistMeta(Array(legacy.utf8)).total, 9)
        let bare = #"{"id":"p1","snapshot_id":"s1","name":"x"}"#
        XCTAssertNil(try decodePlaylistMeta(Array(bare.utf8)).total)
    }

    /// The embedded first page is read by the direct page decoder (`playlistMetaDirect`) when
    /// it takes it; the result is then exactly the full path's (`decodePlaylistMeta(json:)`):
    /// the same meta, or the same error when the direct path hands over.
    func testEmbeddedPageReadDirectlyGivesTheFullPathsResult() {
        func meta(_ extra: String) -> String { #"{"id":"p1","snapshot_id":"s1","name":"n","# + extra + "}" }
        let track = Fixtures.entry(Fixtures.track())
        let page = Fixtures.page([track, Self.nullEntry, Fixtures.entry(Fixtures.episode())], total: 120,
                                 next: "https://api.spotify.com/v1/playlists/p1/items?offset=3&limit=50")
        func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
        /// A page whose one entry carries `levels` nested arrays under an unknown key.
        func deep(_ levels: Int) -> String {
            Fixtures.page([track.replacingOccurrences(of: #""is_local":false"#, with: #""x":"# + nested(levels) + #","is_local":false"#)])
        }
        let shifted = page.replacingOccurrences(of: #""offset":0"#, with: #""offset":5"#)
        // (body, whether the direct path takes it)
        let cases: [(String, Bool)] = [
            (Self.playlist2026, true),
            (meta(#""items":"# + page + #","tracks":{"total":120}"#), true),   // the daemon's fields filter
            (meta(#""tracks":{"total":7},"items":"# + page), true),           // `items` is looked at first
            (meta(#""tracks":"# + page), true),                               // legacy container
            (meta(#""items":{"href":"h","total":7}"#), false),                // dev mode: no items
            (meta(#""items":"# + page + #","items":{"total":1}"#), true),      // the first occurrence counts
            (meta(#""items":null,"items":"# + page), true),
            (meta(#""items":"# + shifted), true),                             // agreement is checked later
            (meta(#""it\u0065ms":"# + page), true),                           // an escaped key is still the key
            (meta(#""items":{"it\u0065ms":[],"total":0,"offset":0}"#), false), // … but not for the page decoder
            (meta(#""items":{"items":[],"total":0}"#), false),                // missing offset: the full path words it
            (meta(#""items":"# + page) + " x", false),                        // trailing data
            (meta(#""items":"# + page + #","name":"second name ignored""#), true),
        ]
        for (body, direct) in cases {
            let bytes = Array(body.utf8)
            let full = Result { () throws(TransformError) -> PlaylistMeta in try decodePlaylistMeta(json: parseBody(bytes)) }
            let got = Result { () throws(TransformError) -> PlaylistMeta in try decodePlaylistMeta(bytes) }
            XCTAssertEqual(got, full, String(body.prefix(120)))
            XCTAssertEqual(bytes.withUnsafeBufferPointer(playlistMetaDirect) != nil, direct, "\(body.count) bytes: " + String(body.suffix(60)))
        }
        // Nesting at the parser's bound: the deepest entry the full path accepts is read
        // directly too; one level more, both refuse it, in the same words.
        let levels = Array(100...140)
        let accepted = levels.filter { (try? decodePlaylistMeta(json: parseBody(Array(meta(#""items":"# + deep($0)).utf8)))) != nil }
        let bound = try! XCTUnwrap(accepted.last)
        XCTAssertEqual(accepted, Array(100...bound), "a depth bound inside the range")
        for (lv, direct) in [(bound, true), (bound + 1, false)] {
            let bytes = Array(meta(#""items":"# + deep(lv)).utf8)
            let full = Result { () throws(TransformError) -> PlaylistMeta in try decodePlaylistMeta(json: parseBody(bytes)) }
            XCTAssertEqual(Result { () throws(TransformError) -> PlaylistMeta in try decodePlaylistMeta(bytes) }, full, "\(lv) levels")
            XCTAssertEqual(bytes.withUnsafeBufferPointer(playlistMetaDirect) != nil, direct, "\(lv) levels")
        }
        // The page itself: every entry parsed at its position, rejects included.
        let m = try? decodePlaylistMeta(Array(meta(#""items":"# + page).utf8))
        XCTAssertEqual(m?.embeddedItems?.entries.count, 3)
        XCTAssertEqual(m?.embeddedItems?.entries, parsedItemsPage(try! decodeItemsPage(Array(page.utf8))).entries)
        XCTAssertEqual(m?.total, 120)
    }

    func testPlaylistMetaErrorsNameTheCause() {
        let cases: [(String, String)] = [
            (#"{"snapshot_id":"s","name":"x"}"#, "missing id"),
            (#"{"id":"p","name":"x"}"#, "missing snapshot_id"),
            (#"{"id":"p","snapshot_id":"","name":"x"}"#, "missing snapshot_id"),
            (#"{"id":"p","snapshot_id":"s"}"#, "missing name"),
            (#"[]"#, "playlist is not an object"),
            (#"{"id":"p","snapshot_id":"s","name":"x","items":{"items":[],"total":0}}"#, "missing offset"),
            (#"{"id":"p","#, "invalid JSON at byte 10"),
        ]
        for (body, reason) in cases {
            XCTAssertThrowsError(try decodePlaylistMeta(Array(body.utf8))) { e in
                guard case .malformed(let r) = e as? TransformError else { return XCTFail("\(e)") }
                XCTAssertTrue(r.hasPrefix(reason), "\(body): \(r)")
            }
        }
    }

    func testItemsPage() throws {
        let p = try decodeItemsPage(Array(Fixtures.page([Fixtures.entry(Fixtures.episode())], offset: 50, total: 51).utf8))
        XCTAssertEqual(p.offset, 50)
        XCTAssertEqual(p.total, 51)
        XCTAssertNil(p.next)
        XCTAssertEqual(p.entries.count, 1)
        XCTAssertThrowsError(try decodeItemsPage(Array(#"{"items":[],"offset":0}"#.utf8)))
        XCTAssertThrowsError(try decodeItemsPage(Array(#"{"items":{},"offset":0,"total":0}"#.utf8)))
        XCTAssertThrowsError(try decodeItemsPage(Array(#"{"error":{"status":403,"message":"Forbidden"}}"#.utf8))) { e in
            XCTAssertEqual(e as? TransformError, .malformed("missing items array"))
        }
    }

    func testArtistsBatchWithNullsAndSingleArtist() throws {
        let full = #"{"external_urls":{},"followers":{"href":null,"total":42},"genres":["synth-pop"," dance pop "],"href":"h","id":"a1","images":[],"name":"Rick Astley","popularity":70,"type":"artist","uri":"spotify:artist:a1"}"#
        let noStats = #"{"genres":[],"id":"a2","name":"Nobody","type":"artist"}"#
        let list = try decodeArtists(Array("{\"artists\":[\(full),null,\(noStats),{\"name\":\"no id\"}]}".utf8))
        XCTAssertEqual(list, [
            ArtistFact(id: "a1", name: "Rick Astley", genres: ["synth-pop", "dance pop"], followers: 42, popularity: 70),
            ArtistFact(id: "a2", name: "Nobody", genres: [], followers: nil, popularity: nil),
        ])
        XCTAssertTrue(list.allSatisfy(\.isComplete))
        XCTAssertEqual(try decodeArtist(Array(full.utf8)).followers, 42)
        XCTAssertThrowsError(try decodeArtist(Array("null".utf8)))
        XCTAssertThrowsError(try decodeArtist(Array(#"{"name":"x"}"#.utf8)))
        XCTAssertThrowsError(try decodeArtists(Array(#"{"artist":[]}"#.utf8)))
    }
}
