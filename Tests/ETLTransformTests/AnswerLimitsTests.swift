import ETLCore
import Foundation
import XCTest
@testable import ETLTransform

/// The bounds on what one answer can make the daemon keep (`AnswerLimits`): playlist metadata
/// past a bound is malformed, an item entry past one is an `entry_too_large` reject (the same
/// from the direct decoder and from `parseEntry`), and a reject's `raw` is cut with a marker.
final class AnswerLimitsTests: XCTestCase {

    // MARK: playlist metadata

    private static func meta(id: String = "37i9dQZF1DXcBWIGoYBM5M", snapshot: String = "AAAAB2Fj", name: String = "Mix",
                             description: String = "d", ownerID: String = "alice", ownerName: String = "Alice") -> [UInt8] {
        func q(_ s: String) -> String { JSONText.string(.string(s)) }
        return Array("""
        {"id":\(q(id)),"snapshot_id":\(q(snapshot)),"name":\(q(name)),"description":\(q(description)),\
        "owner":{"id":\(q(ownerID)),"display_name":\(q(ownerName))}}
        """.utf8)
    }

    func testPlaylistMetaBounds() throws {
        let text = AnswerLimits.playlistTextBytes
        // (case, body, the error's text, or nil when the answer is accepted)
        let cases: [(String, [UInt8], String?)] = [
            ("snapshot_id at the bound", Self.meta(snapshot: String(repeating: "S", count: 256)), nil),
            ("snapshot_id one byte over", Self.meta(snapshot: String(repeating: "S", count: 257)),
             "snapshot_id is 257 bytes, over the 256-byte bound"),
            ("snapshot_id of 1 MiB", Self.meta(snapshot: String(repeating: "S", count: 1 << 20)),
             "snapshot_id is 1,048,576 bytes, over the 256-byte bound"),
            ("snapshot_id counted in bytes, not characters", Self.meta(snapshot: String(repeating: "é", count: 129)),
             "snapshot_id is 258 bytes, over the 256-byte bound"),
            ("id at the bound", Self.meta(id: String(repeating: "i", count: 64)), nil),
            ("id one byte over", Self.meta(id: String(repeating: "i", count: 65)), "id is 65 bytes, over the 64-byte bound"),
            ("name at the bound", Self.meta(name: String(repeating: "n", count: text)), nil),
            ("name one byte over", Self.meta(name: String(repeating: "n", count: text + 1)),
             "name is 65,537 bytes, over the 65,536-byte bound"),
            ("description over", Self.meta(description: String(repeating: "d", count: 1 << 20)),
             "description is 1,048,576 bytes, over the 65,536-byte bound"),
            ("owner display name over", Self.meta(ownerName: String(repeating: "o", count: text + 1)),
             "owner.display_name is 65,537 bytes, over the 65,536-byte bound"),
            ("owner id over", Self.meta(ownerID: String(repeating: "o", count: text + 1)),
             "owner.id is 65,537 bytes, over the 65,536-byte bound"),
        ]
        for (name, body, expected) in cases {
            do {
                let m = try decodePlaylistMeta(body)
                XCTAssertNil(expected, "\(name): accepted, expected \(expected ?? "")")
                XCTAssertLessThanOrEqual(m.snapshotID.utf8.count, AnswerLimits.snapshotIDBytes, name)
            } catch {
                guard case .malformed(let reason) = error else { return XCTFail("\(name): \(error)") }
                XCTAssertEqual(reason, expected, name)
                XCTAssertLessThan(reason.utf8.count, 100, "\(name): the reason never carries the value")
            }
        }
    }

    // MARK: item entries

    /// `decodeItemsPage` + `parseEntry`: what the direct decoder must give too.
    private func reference(_ body: [UInt8]) throws -> ParsedItemsPage {
        let page = try decodeItemsPage(body)
        return ParsedItemsPage(entries: page.entries.enumerated().map { parseEntry($0.element, position: page.offset + $0.offset) },
                               total: page.total, next: page.next, offset: page.offset, limit: page.limit)
    }

    private static func artists(_ n: Int, prefix: String) -> [(String, String)] {
        (0..<n).map { ("\(prefix)\(String(format: "%05d", $0))", "Artist \($0)") }
    }

    /// The track fixture's entry with its name replaced so the entry keeps exactly `kept` bytes
    /// of text (the name made of `unit`, whose UTF-8 length must divide the room left).
    private static func trackEntry(keeping kept: Int, unit: String = "n") -> String {
        let base = Fixtures.parsed(Fixtures.entry(Fixtures.track())).keptTextBytes
        let room = kept - (base - "Never Gonna Give You Up".utf8.count)
        precondition(room % unit.utf8.count == 0)
        return Fixtures.entry(Fixtures.track(name: String(repeating: unit, count: room / unit.utf8.count)))
    }

    func testKeptTextOfTheFixtures() {
        // Counted by hand from the fixtures: every string that becomes a row value.
        let track = 22 + 23 + 12 + 36                 // id, name, isrc, uri
            + 22 + 26 + 5 + 10 + 3                    // album id, name, type, release date, precision
            + (22 + 11) * 2                           // the artist, in the track and the album
            + 20 + 5                                  // added_at, added_by
        XCTAssertEqual(Fixtures.parsed(Fixtures.entry(Fixtures.track())).keptTextBytes, track)
        let episode = 22 + 18 + 22 + 15 + 10 + 20 + 5 // id, name, show id, show name (trimmed), date, added_at/by
        XCTAssertEqual(Fixtures.parsed(Fixtures.entry(Fixtures.episode())).keptTextBytes, episode)
        let local = 37 + 7 + 20 + 5                   // uri, name, added_at/by
        XCTAssertEqual(Fixtures.parsed(Fixtures.entry(Fixtures.local)).keptTextBytes, local)
        XCTAssertEqual(Fixtures.parsed(#"{"item":null}"#).keptTextBytes, 0)
    }

    func testEntryBoundsGiveTheSameResultOnBothPaths() throws {
        let bound = AnswerLimits.entryTextBytes, maxArtists = AnswerLimits.artistsPerList
        let big = String(repeating: "x", count: bound)
        let episodeShow = Fixtures.episode().replacingOccurrences(of: "The Things Show ", with: big)
        let localName = Fixtures.local.replacingOccurrences(of: "My Demo", with: big)
        // (case, entry, the reject reason, or nil when the entry is kept)
        let cases: [(String, String, String?)] = [
            ("a real track", Fixtures.entry(Fixtures.track()), nil),
            ("text at the bound", Self.trackEntry(keeping: bound), nil),
            ("text one byte over", Self.trackEntry(keeping: bound + 1), RejectReason.entryTooLarge),
            ("text in 2-byte characters, over in bytes only", Self.trackEntry(keeping: bound + 1, unit: "é"),
             RejectReason.entryTooLarge),
            ("a 315 KB track name", Fixtures.entry(Fixtures.track(name: String(repeating: "a", count: 315_000))),
             RejectReason.entryTooLarge),
            ("a 64 KiB artist name", Fixtures.entry(Fixtures.track(artists: [("0gxyHStUsqpMadRV0Di1Qt", big)])),
             RejectReason.entryTooLarge),
            ("a 64 KiB album id", Fixtures.entry(Fixtures.track(albumID: big)), RejectReason.entryTooLarge),
            ("a 64 KiB added_by id", Fixtures.entry(Fixtures.track(), addedBy: big), RejectReason.entryTooLarge),
            ("\(maxArtists) artists", Fixtures.entry(Fixtures.track(artists: Self.artists(maxArtists, prefix: "A"),
                                                                   albumArtists: [("B", "b")])), nil),
            ("\(maxArtists + 1) artists", Fixtures.entry(Fixtures.track(artists: Self.artists(maxArtists + 1, prefix: "A"),
                                                                       albumArtists: [("B", "b")])),
             RejectReason.entryTooLarge),
            ("\(maxArtists + 1) album artists", Fixtures.entry(Fixtures.track(artists: [("B", "b")],
                                                                             albumArtists: Self.artists(maxArtists + 1, prefix: "A"))),
             RejectReason.entryTooLarge),
            ("an episode with a 64 KiB show name", Fixtures.entry(episodeShow), RejectReason.entryTooLarge),
            ("a local file with a 64 KiB name", Fixtures.entry(localName), RejectReason.entryTooLarge),
            ("1 MB in a key nothing keeps", Fixtures.entry(Fixtures.track(extra: ",\"zzz\":\"\(String(repeating: "z", count: 1 << 20))\"")),
             nil),
            ("shape first: a bad duration and a 315 KB name",
             Fixtures.entry(Fixtures.track(name: String(repeating: "a", count: 315_000), duration: "-1")),
             RejectReason.invalidDuration),
        ]
        for (name, entry, reason) in cases {
            let small = Fixtures.entry(Fixtures.episode())
            for spaced in [false, true] {
                // The entry between two ordinary ones, so positions and neighbours are checked too.
                var text = Fixtures.page([small, entry, small], offset: 50, total: 53)
                if spaced { text = text.replacingOccurrences(of: "\",\"", with: "\", \"") }
                let body = Array(text.utf8)
                let page = try decodeParsedItemsPage(body)
                XCTAssertEqual(page, try reference(body), "\(name): the direct decoder and parseEntry differ")
                XCTAssertEqual(page.entries.count, 3, name)
                guard page.entries.count == 3 else { continue }
                XCTAssertFalse(page.entries[0].isOverAnswerLimits, name)
                switch (page.entries[1], reason) {
                case (.reject(let r, let raw, let position), .some(let want)):
                    XCTAssertEqual(r, want, name)
                    XCTAssertEqual(position, 51, name)
                    XCTAssertEqual(raw, RejectRaw.text(try JSONParser.parse(entry)), name)
                    XCTAssertLessThanOrEqual(raw.utf8.count, AnswerLimits.rejectRawBytes + 80, name)
                case (let e, .none):
                    if case .reject(let r, _, _) = e { XCTFail("\(name): rejected as \(r)") }
                    XCTAssertLessThanOrEqual(e.keptTextBytes, bound, name)
                default:
                    XCTFail("\(name): \(page.entries[1]) is not a \(reason ?? "kept entry")")
                }
            }
        }
    }

    func testEntryTooLargeIsOnlyInTheBoundsList() {
        XCTAssertEqual(RejectReason.bounds, [RejectReason.entryTooLarge])
        XCTAssertFalse(RejectReason.all.contains(RejectReason.entryTooLarge))
    }

    // MARK: reject raw

    private static func fnvHex(_ s: String) -> String {
        String(RejectHash.of(s).split(separator: ":")[1])
    }

    func testRejectRawIsCutWithAMarker() throws {
        let cap = AnswerLimits.rejectRawBytes
        // Entries whose canonical text is the given number of bytes: `{"item":null,"x":"…"}` is
        // 20 bytes around the string.
        func entry(_ fill: String, bytes: Int) -> JSONValue {
            let n = (bytes - 20) / fill.utf8.count
            return .object([("item", .null), ("x", .string(String(repeating: fill, count: n)))])
        }
        // (case, entry, cut?)
        let cases: [(String, JSONValue, Bool)] = [
            ("small", entry("a", bytes: 100), false),
            ("exactly the cap", entry("a", bytes: cap), false),
            ("one byte over", entry("a", bytes: cap + 1), true),
            ("2-byte characters across the cut", entry("é", bytes: cap + 21), true),
            ("4-byte characters across the cut", entry("🎵", bytes: cap + 40), true),
            ("escapes across the 4096-scalar pieces", .object([("x", .string(String(repeating: "a\n\"é\u{1}\\", count: 5000)))]), true),
            ("1 MB", entry("z", bytes: 1 << 20), true),
        ]
        for (name, value, cut) in cases {
            let canonical = value.canonicalText
            let raw = RejectRaw.text(value)
            guard cut else {
                XCTAssertEqual(raw, canonical, name)
                continue
            }
            let marker = try XCTUnwrap(raw.range(of: RejectRaw.markerStart), name)
            let prefix = String(raw[..<marker.lowerBound])
            XCTAssertTrue(canonical.hasPrefix(prefix), "\(name): the kept text is the canonical text's start")
            XCTAssertGreaterThan(prefix.utf8.count, cap - 4, name)
            XCTAssertLessThanOrEqual(prefix.utf8.count, cap, name)
            XCTAssertEqual(String(raw[marker.lowerBound...]),
                           "\u{2026}[cut at \(prefix.utf8.count) of \(canonical.utf8.count) bytes, fnv1a64:\(Self.fnvHex(canonical))]", name)
            XCTAssertEqual(RejectRaw.text(value), raw, "\(name): deterministic")
        }
        // Two entries that differ only past the cut keep different raw texts (and hashes).
        let a = entry("a", bytes: 2 * cap), b = JSONValue.object([("item", .null), ("x", .string(String(repeating: "a", count: 2 * cap - 21) + "b"))])
        XCTAssertEqual(a.canonicalText.utf8.count, b.canonicalText.utf8.count)
        XCTAssertNotEqual(RejectHash.of(RejectRaw.text(a)), RejectHash.of(RejectRaw.text(b)))
    }

    // MARK: full artists

    func testFullArtistsOverTheBoundsAreLeftIncomplete() throws {
        let big = String(repeating: "g", count: AnswerLimits.entryTextBytes)
        let genres = (0...AnswerLimits.artistsPerList).map { "\"g\($0)\"" }.joined(separator: ",")
        let body = """
        {"artists":[{"id":"a1","name":"Fine","genres":["pop"]},{"id":"a2","name":"\(big)","genres":[]},\
        {"id":"a3","name":"Many","genres":[\(genres)]}]}
        """
        XCTAssertEqual(try decodeArtists(Array(body.utf8)).map(\.id), ["a1"])
        XCTAssertThrowsError(try decodeArtist(Array(#"{"id":"a2","name":"\#(big)"}"#.utf8))) { e in
            XCTAssertEqual(e as? TransformError, .malformed("artist is over its text bounds"))
        }
    }
}
