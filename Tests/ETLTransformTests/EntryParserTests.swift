import ETLCore
import XCTest
@testable import ETLTransform

final class EntryParserTests: XCTestCase {
    func testFullTrackEntry() throws {
        let p = Fixtures.parsed(Fixtures.entry(Fixtures.track(), addedAt: "2026-03-01T13:00:00+01:00"), position: 7)
        guard case .track(let t, let c) = p else { return XCTFail("\(p)") }
        XCTAssertEqual(c, EntryContext(position: 7, addedAt: "2026-03-01T12:00:00Z", addedBy: "alice"))
        XCTAssertEqual(t.id, "4iV5W9uYEdYUVa79Axb7Rh")
        XCTAssertEqual(t.name, "Never Gonna Give You Up")
        XCTAssertEqual(t.durationMs, 213573)
        XCTAssertEqual(t.explicit, false)
        XCTAssertEqual(t.discNumber, 1)
        XCTAssertEqual(t.trackNumber, 1)
        XCTAssertEqual(t.isrc, "GBARL9300135")
        XCTAssertEqual(t.popularity, 77)
        XCTAssertEqual(t.uri, "spotify:track:4iV5W9uYEdYUVa79Axb7Rh")
        XCTAssertEqual(t.artists, [ArtistFact(id: "0gxyHStUsqpMadRV0Di1Qt", name: "Rick Astley")])
        XCTAssertEqual(t.album.id, "6XzE9JxZ6qmtuSZ1bjVTGC")
        XCTAssertEqual(t.album.albumType, "album")
        XCTAssertEqual(t.album.releaseDate, "1987-11-12")
        XCTAssertEqual(t.album.releaseDatePrecision, "day")
        XCTAssertEqual(t.album.releaseYear, 1987)
        XCTAssertEqual(t.album.totalTracks, 10)
        XCTAssertEqual(member(from: p), Member(itemKey: t.id, itemType: .track, trackID: t.id, episodeID: nil,
                                               position: 7, addedAt: "2026-03-01T12:00:00Z", addedBy: "alice",
                                               dims: DimsFingerprint.of(albumID: "6XzE9JxZ6qmtuSZ1bjVTGC",
                                                                        artistIDs: ["0gxyHStUsqpMadRV0Di1Qt"])))
    }

    func testItemOnlyAndTrackAliasOnly() {
        for field in [Fixtures.Field.itemOnly, .trackOnly, .both] {
            guard case .track(let t, _) = Fixtures.parsed(Fixtures.entry(Fixtures.track(), field: field)) else {
                return XCTFail("\(field)")
            }
            XCTAssertEqual(t.id, "4iV5W9uYEdYUVa79Axb7Rh")
        }
        // `item` wins over a differing `track`; a null `item` falls back to a non-null `track`.
        let e = "{\"added_at\":null,\"item\":\(Fixtures.episode()),\"track\":\(Fixtures.track())}"
        guard case .episode = Fixtures.parsed(e) else { return XCTFail() }
        let f = "{\"added_at\":null,\"item\":null,\"track\":\(Fixtures.track())}"
        guard case .track = Fixtures.parsed(f) else { return XCTFail() }
    }

    func testEpisodeEntry() {
        let p = Fixtures.parsed(Fixtures.entry(Fixtures.episode(), addedAt: nil, addedBy: nil), position: 3)
        guard case .episode(let e, let c) = p else { return XCTFail("\(p)") }
        XCTAssertEqual(e, EpisodeFact(id: "512ojhOuo1ktJprKbVcKyQ", name: "Episode 42: Things", durationMs: 1686230,
                                      explicit: true, showID: "38bS44xjbVVZ3No3ByF1dJ", showName: "The Things Show",
                                      releaseDate: "2026-01-15"))
        XCTAssertEqual(c, EntryContext(position: 3, addedAt: nil, addedBy: nil))
        XCTAssertEqual(member(from: p)?.itemType, .episode)
        XCTAssertEqual(member(from: p)?.episodeID, e.id)
        XCTAssertNil(member(from: p)?.trackID)
        guard case .episode(let e2, _) = Fixtures.parsed(Fixtures.entry(Fixtures.episode(releaseDate: "garbage"))) else {
            return XCTFail()
        }
        XCTAssertNil(e2.releaseDate, "episode release_date is nullable, so a bad one becomes null")
    }

    func testLocalFile() {
        let p = Fixtures.parsed(Fixtures.entry(Fixtures.local), position: 2)
        guard case .local(let l, _) = p else { return XCTFail("\(p)") }
        XCTAssertEqual(l, LocalFact(uri: "spotify:local:Local+Band::My+Demo:184", name: "My Demo"))
        XCTAssertEqual(member(from: p), Member(itemKey: l.uri, itemType: .local, trackID: nil, episodeID: nil, position: 2,
                                               addedAt: "2026-03-01T12:00:00Z", addedBy: "alice"))
    }

    func testNullItemIsUnavailableReject() {
        let raw = #"{"added_at":"2020-01-01T00:00:00Z","added_by":null,"item":null,"track":null}"#
        let p = Fixtures.parsed(raw, position: 9)
        XCTAssertEqual(p, .reject(reason: "unavailable", raw: Fixtures.parse(raw).canonicalText, position: 9))
        XCTAssertNil(member(from: p))
    }

    func testNullAddedAtAndAddedBy() {
        guard case .track(_, let c) = Fixtures.parsed(Fixtures.entry(Fixtures.track(), addedAt: nil, addedBy: nil)) else {
            return XCTFail()
        }
        XCTAssertNil(c.addedAt)
        XCTAssertNil(c.addedBy)
        // added_by object without id, and absent fields altogether
        guard case .track(_, let c2) = Fixtures.parsed("{\"added_by\":{\"type\":\"user\"},\"item\":\(Fixtures.track())}") else {
            return XCTFail()
        }
        XCTAssertNil(c2.addedBy)
        XCTAssertNil(c2.addedAt)
    }

    func testReleaseDatePadding() {
        let cases: [(String, String, String, String, Int)] = [
            ("1999", "year", "1999-01-01", "year", 1999),
            ("1999-07", "month", "1999-07-01", "month", 1999),
            ("1999-07-15", "day", "1999-07-15", "day", 1999),
            ("0000", "year", "0000-01-01", "year", 0),
        ]
        for (raw, prec, date, outPrec, year) in cases {
            guard case .track(let t, _) = Fixtures.parsed(Fixtures.entry(Fixtures.track(releaseDate: raw, precision: prec))) else {
                return XCTFail(raw)
            }
            XCTAssertEqual(t.album.releaseDate, date)
            XCTAssertEqual(t.album.releaseDatePrecision, outPrec)
            XCTAssertEqual(t.album.releaseYear, year)
        }
        XCTAssertEqual(TextCleaning.releaseDate("2001-02", precision: nil)?.date, "2001-02-01")
        XCTAssertEqual(TextCleaning.releaseDate("2001-02", precision: nil)?.precision, "month")
        for (bad, prec) in [("1999-13", "month"), ("1999", "day"), ("99", "year"), ("1999-02-32", "day"), ("199x", "year"), ("", "year")] {
            XCTAssertNil(TextCleaning.releaseDate(bad, precision: prec), bad)
            XCTAssertEqual(reason(Fixtures.entry(Fixtures.track(releaseDate: bad, precision: prec))), "invalid_release_date")
        }
    }

    func testUnicodeCleaning() {
        let nfd = "Beyonce\u{301}" // NFD é
        let name = "  \(nfd) 🎵 東京 مرحبا 👩‍👩‍👧\n"
        guard case .track(let t, _) = Fixtures.parsed(Fixtures.entry(Fixtures.track(name: name.replacingOccurrences(of: "\n", with: "\\n")))) else {
            return XCTFail()
        }
        XCTAssertEqual(t.name, "Beyonc\u{E9} 🎵 東京 مرحبا 👩‍👩‍👧")
        XCTAssertEqual(Array(t.name.unicodeScalars).count, Array("Beyonc\u{E9} 🎵 東京 مرحبا 👩‍👩‍👧".unicodeScalars).count)
        XCTAssertFalse(t.name.unicodeScalars.contains("\u{301}"))
        XCTAssertEqual(TextCleaning.clean("  plain ascii\t"), "plain ascii")
        XCTAssertEqual(TextCleaning.clean(" \t\n "), "")
        XCTAssertEqual(TextCleaning.clean("\u{3000}全角\u{3000}"), "全角")
        XCTAssertEqual(TextCleaning.clean("\u{202E}RTL\u{202C}"), "\u{202E}RTL\u{202C}")
    }

    func testAlbumArtistsAreSeparateFacts() {
        let track = Fixtures.track(artists: [("a1", "Feat A"), ("a2", "Feat B")], albumArtists: [("va", "Various Artists")])
        guard case .track(let t, _) = Fixtures.parsed(Fixtures.entry(track)) else { return XCTFail() }
        XCTAssertEqual(t.artists.map(\.id), ["a1", "a2"])
        XCTAssertEqual(t.album.artists.map(\.id), ["va"])
        XCTAssertTrue(t.artists.allSatisfy { !$0.isComplete })
    }

    func testNullablesBecomeNull() {
        guard case .track(let t, _) = Fixtures.parsed(Fixtures.entry(Fixtures.track(popularity: nil, isrc: nil))) else {
            return XCTFail()
        }
        XCTAssertNil(t.popularity)
        XCTAssertNil(t.isrc)
    }

    private func reason(_ entry: String) -> String? {
        if case .reject(let r, let raw, _) = Fixtures.parsed(entry) {
            XCTAssertEqual(raw, Fixtures.parse(entry).canonicalText)
            return r
        }
        return nil
    }

    func testRejectReasons() {
        let t = Fixtures.track()
        func mutate(_ from: String, _ to: String) -> String {
            precondition(t.contains(from), from)
            return Fixtures.entry(t.replacingOccurrences(of: from, with: to))
        }
        let cases: [(String, String)] = [
            ("[1,2]", "malformed_entry"),
            ("\"x\"", "malformed_entry"),
            (#"{"added_at":null}"#, "malformed_entry"),
            (#"{"item":null}"#, "unavailable"),
            (#"{"track":null}"#, "unavailable"),
            (#"{"item":"spotify:track:x"}"#, "invalid_item"),
            (Fixtures.entry(t, addedAt: "yesterday"), "invalid_added_at"),
            ("{\"added_at\":12345,\"item\":\(t)}", "invalid_added_at"),
            (mutate(#""type":"track","uri""#, #""type":"audiobook","uri""#), "unknown_type"),
            (mutate(#""type":"track","uri""#, #""uri""#), "unknown_type"),
            (mutate(#""id":"4iV5W9uYEdYUVa79Axb7Rh""#, #""id":null"#), "missing_id"),
            (mutate(#""id":"4iV5W9uYEdYUVa79Axb7Rh""#, #""id":"""#), "missing_id"),
            (mutate(#""name":"Never Gonna Give You Up""#, #""name":7"#), "missing_name"),
            (mutate(#""duration_ms":213573"#, #""duration_ms":"213573""#), "invalid_duration"),
            (mutate(#""duration_ms":213573"#, #""duration_ms":-1"#), "invalid_duration"),
            (mutate(#""duration_ms":213573"#, #""duration_ms":2.5"#), "invalid_duration"),
            (mutate(#""duration_ms":213573"#, #""duration_ms":null"#), "invalid_duration"),
            (mutate(#""explicit":false"#, #""explicit":"no""#), "invalid_explicit"),
            (mutate(#""track_number":1"#, #""track_number":null"#), "invalid_track_number"),
            (mutate(#""disc_number":1"#, #""disc_number":"1""#), "invalid_disc_number"),
            (mutate(#""artists":[{"external_urls":{"spotify":"https://open.spotify.com/artist/0gxyHStUsqpMadRV0Di1Qt"},"href":"https://api.spotify.com/v1/artists/0gxyHStUsqpMadRV0Di1Qt","id":"0gxyHStUsqpMadRV0Di1Qt","name":"Rick Astley","type":"artist","uri":"spotify:artist:0gxyHStUsqpMadRV0Di1Qt"}],"available"#, #""available"#), "missing_artists"),
            (mutate(#""id":"0gxyHStUsqpMadRV0Di1Qt""#, #""id":null"#), "missing_artist_id"),
            (mutate(#""id":"6XzE9JxZ6qmtuSZ1bjVTGC""#, #""id":null"#), "missing_album_id"),
            (mutate(#""album_type":"album""#, #""album_type":null"#), "invalid_album"),
            (mutate(#""total_tracks":10"#, #""total_tracks":"ten""#), "invalid_album"),
            (mutate(#""release_date":"1987-11-12""#, #""release_date":null"#), "invalid_release_date"),
            (Fixtures.entry(t.replacingOccurrences(of: #"{"album":{"#, with: #"{"album":null,"x":{"#)), "missing_album"),
            (Fixtures.entry(Fixtures.episode().replacingOccurrences(of: #""show":{"id":"38bS44xjbVVZ3No3ByF1dJ""#, with: #""show":{"id":null"#)), "missing_show_id"),
            (Fixtures.entry(Fixtures.episode().replacingOccurrences(of: #""show":{"#, with: #""show":null,"x":{"#)), "missing_show"),
            (Fixtures.entry(Fixtures.local.replacingOccurrences(of: "spotify:local:", with: "file:")), "invalid_local_uri"),
        ]
        for (entry, expected) in cases {
            XCTAssertEqual(reason(entry), expected, entry)
            XCTAssertTrue(RejectReason.all.contains(expected))
        }
        let covered = Set(cases.map(\.1))
        XCTAssertEqual(covered, Set(RejectReason.all), "every reject reason has a case")
    }
}

extension EntryParserTests {
    func testEntryLevelIsLocalFlag() {
        let item = #"{"id":null,"name":" Old Local ","type":"track","uri":"spotify:local:a:b:c:1"}"#
        let p = Fixtures.parsed("{\"added_at\":null,\"is_local\":true,\"track\":\(item)}")
        XCTAssertEqual(p, .local(LocalFact(uri: "spotify:local:a:b:c:1", name: "Old Local"),
                                 EntryContext(position: 0, addedAt: nil, addedBy: nil)))
    }
}

extension EntryParserTests {
    func testFastTimestampMatchesCore() {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<2_000 {
            let t = Int64(rng.next() % 253_402_300_799) // year 0001…9999
            XCTAssertEqual(FastTimestamp.iso(epochSeconds: t), Timestamp.iso(epochSeconds: t))
        }
        for t: Int64 in [0, 86399, 86400, 951_782_400, 4_107_542_399] {
            XCTAssertEqual(FastTimestamp.iso(epochSeconds: t), Timestamp.iso(epochSeconds: t))
        }
        XCTAssertEqual(FastTimestamp.normalize("2026-03-01T13:00:00.123+01:00"), "2026-03-01T12:00:00Z")
        XCTAssertNil(FastTimestamp.normalize("2026-03-01"))
    }
}
