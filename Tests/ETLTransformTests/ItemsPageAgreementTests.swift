import XCTest
@testable import ETLTransform

/// `ItemsPageAgreement.check`: every number of a page against the request that fetched it.
final class ItemsPageAgreementTests: XCTestCase {
    static let base = "https://api.spotify.com/v1/playlists/P1/items"
    static func next(_ offset: Int, limit: Int = 50, id: String = "P1", tail: String = "items") -> String {
        "https://api.spotify.com/v1/playlists/\(id)/\(tail)?offset=\(offset)&limit=\(limit)&fields=items(item(id))"
    }

    struct Case {
        var name: String
        var offset: Int, limit: Int, total: Int, count: Int
        var next: String?
        var request = ItemsPageRequest(playlistID: "P1", offset: 0, limit: 50)
        var expected: PageDisagreement?
    }

    static let cases: [Case] = [
        // Agreeing pages.
        Case(name: "first of several", offset: 0, limit: 50, total: 120, count: 50, next: next(50)),
        Case(name: "middle", offset: 50, limit: 50, total: 120, count: 50, next: next(100),
             request: .init(playlistID: "P1", offset: 50, limit: 50)),
        Case(name: "last, partial", offset: 100, limit: 50, total: 120, count: 20, next: nil,
             request: .init(playlistID: "P1", offset: 100, limit: 50)),
        Case(name: "empty playlist", offset: 0, limit: 50, total: 0, count: 0, next: nil),
        Case(name: "legacy /tracks next", offset: 0, limit: 50, total: 60, count: 50, next: next(50, tail: "tracks")),
        Case(name: "smaller limit than asked", offset: 0, limit: 20, total: 60, count: 20, next: next(20, limit: 20)),
        Case(name: "exactly full", offset: 0, limit: 50, total: 50, count: 50, next: nil),
        Case(name: "at the bound", offset: 0, limit: 50, total: 10_000_000, count: 50, next: next(50)),
        // Disagreeing pages.
        Case(name: "absurd offset", offset: Int.max, limit: 50, total: 1_000_000_000_000_000, count: 1, next: nil,
             expected: .offset(Int.max, expected: 0)),
        Case(name: "offset elsewhere", offset: 50, limit: 50, total: 120, count: 50, next: next(100),
             expected: .offset(50, expected: 0)),
        Case(name: "huge total", offset: 0, limit: 50, total: 1_000_000_000_000_000, count: 50, next: next(50),
             expected: .total(1_000_000_000_000_000)),
        Case(name: "negative total", offset: 0, limit: 50, total: -1, count: 0, next: nil, expected: .total(-1)),
        Case(name: "just past the bound", offset: 0, limit: 50, total: 10_000_001, count: 50, next: next(50),
             expected: .total(10_000_001)),
        Case(name: "limit 0", offset: 0, limit: 0, total: 10, count: 0, next: nil, expected: .limit(0, requested: 50)),
        Case(name: "limit above asked", offset: 0, limit: 100, total: 200, count: 100, next: next(100, limit: 100),
             expected: .limit(100, requested: 50)),
        Case(name: "limit above any page", offset: 0, limit: 1000, total: 2000, count: 50, next: next(50),
             request: .init(playlistID: "P1", offset: 0, limit: 5000), expected: .limit(1000, requested: 100)),
        Case(name: "more items than limit", offset: 0, limit: 50, total: 120, count: 51, next: next(51),
             expected: .itemCount(51, limit: 50)),
        Case(name: "items past total", offset: 0, limit: 50, total: 10, count: 20, next: nil,
             expected: .beyondTotal(offset: 0, count: 20, total: 10)),
        Case(name: "empty before total", offset: 0, limit: 50, total: 10, count: 0, next: next(0),
             expected: .emptyBeforeTotal(offset: 0, total: 10)),
        Case(name: "next missing", offset: 0, limit: 50, total: 120, count: 50, next: nil,
             expected: .nextMissing(expectedOffset: 50, total: 120)),
        Case(name: "next after the last item", offset: 0, limit: 50, total: 50, count: 50, next: next(50),
             expected: .nextUnexpected(next: next(50))),
        Case(name: "next to another playlist", offset: 0, limit: 50, total: 120, count: 50, next: next(50, id: "P2"),
             expected: .nextElsewhere(next: next(50, id: "P2"), expected: "playlist P1 from offset 50, limit ≤ 50")),
        Case(name: "next going back", offset: 0, limit: 50, total: 120, count: 50, next: next(0),
             expected: .nextElsewhere(next: next(0), expected: "playlist P1 from offset 50, limit ≤ 50")),
        Case(name: "next skipping", offset: 0, limit: 50, total: 120, count: 50, next: next(100),
             expected: .nextElsewhere(next: next(100), expected: "playlist P1 from offset 50, limit ≤ 50")),
        Case(name: "next with a larger limit", offset: 0, limit: 50, total: 120, count: 50, next: next(50, limit: 1000),
             expected: .nextElsewhere(next: next(50, limit: 1000), expected: "playlist P1 from offset 50, limit ≤ 50")),
        Case(name: "next with a signed offset", offset: 0, limit: 50, total: 120, count: 50,
             next: base + "?offset=+50&limit=50",
             expected: .nextElsewhere(next: base + "?offset=+50&limit=50", expected: "playlist P1 from offset 50, limit ≤ 50")),
        Case(name: "next with a 30-digit offset", offset: 0, limit: 50, total: 120, count: 50,
             next: base + "?offset=123456789012345678901234567890",
             expected: .nextElsewhere(next: base + "?offset=123456789012345678901234567890",
                                      expected: "playlist P1 from offset 50, limit ≤ 50")),
        Case(name: "next not an items URL", offset: 0, limit: 50, total: 120, count: 50, next: "https://evil.example/x",
             expected: .nextElsewhere(next: "https://evil.example/x", expected: "playlist P1 from offset 50, limit ≤ 50")),
        Case(name: "next below the items path", offset: 0, limit: 50, total: 120, count: 50,
             next: base + "/x?offset=50&limit=50",
             expected: .nextElsewhere(next: base + "/x?offset=50&limit=50", expected: "playlist P1 from offset 50, limit ≤ 50")),
        Case(name: "next with an empty offset", offset: 0, limit: 50, total: 120, count: 50, next: base + "?offset=&limit=50",
             expected: .nextElsewhere(next: base + "?offset=&limit=50", expected: "playlist P1 from offset 50, limit ≤ 50")),
        Case(name: "next with a malformed escape in the id", offset: 0, limit: 50, total: 120, count: 50,
             next: next(50, id: "P%4"),
             expected: .nextElsewhere(next: next(50, id: "P%4"), expected: "playlist P1 from offset 50, limit ≤ 50")),
        // The id is compared after %XX decoding; the order of the query does not matter.
        Case(name: "next with an escaped id", offset: 0, limit: 50, total: 120, count: 50, next: next(50, id: "P%31")),
        Case(name: "next with limit first and no offset-like keys", offset: 0, limit: 50, total: 120, count: 50,
             next: base + "?limit=50&offsetx=7&offset=50"),
    ]

    func testTable() {
        for c in Self.cases {
            let got = ItemsPageAgreement.check(offset: c.offset, limit: c.limit, total: c.total, count: c.count,
                                               next: c.next, against: c.request)
            XCTAssertEqual(got, c.expected, c.name)
        }
    }

    func testDescriptionsNameWhatDisagrees() {
        XCTAssertEqual(PageDisagreement.offset(Int.max, expected: 0).description, "offset 9223372036854775807, expected 0")
        XCTAssertEqual(PageDisagreement.total(1_000_000_000_000_000).description,
                       "total 1000000000000000, expected 0...10,000,000")
        XCTAssertEqual(PageDisagreement.limit(0, requested: 50).description, "limit 0, expected 1...50")
        // Hostile text in a next URL stays one short, escaped line.
        let hostile = "https://x/\n\u{1B}[31m" + String(repeating: "A", count: 5000)
        let text = PageDisagreement.nextUnexpected(next: hostile).description
        XCTAssertFalse(text.contains("\n"))
        XCTAssertFalse(text.contains("\u{1B}"))
        XCTAssertLessThan(text.count, 200)
    }

    func testDecodedPagesAreChecked() throws {
        let page = try decodeParsedItemsPage(Array(Fixtures.page([], total: 0, next: nil).utf8))
        XCTAssertNil(ItemsPageAgreement.check(page, against: .init(playlistID: "P1", offset: 0, limit: 50)))
        // An offset no playlist reaches is refused by the decoder itself (positions are offset + index).
        let absurd = #"{"items":[{"item":null}],"limit":50,"next":null,"offset":9223372036854775807,"total":1e15}"#
        XCTAssertThrowsError(try decodeParsedItemsPage(Array(absurd.utf8))) { error in
            XCTAssertTrue("\(error)".contains("offset 9223372036854775807"), "\(error)")
        }
        let huge = #"{"items":[],"limit":50,"next":null,"offset":0,"total":1e15}"#
        let p = try decodeParsedItemsPage(Array(huge.utf8))
        XCTAssertEqual(ItemsPageAgreement.check(p, against: .init(playlistID: "P1", offset: 0, limit: 50)),
                       .total(1_000_000_000_000_000))
    }

    func testRequestAfterAPage() {
        let r = ItemsPageRequest(playlistID: "P1", offset: 50, limit: 50)
        let page = ParsedItemsPage(entries: Array(repeating: .reject(reason: "x", raw: "{}", position: 0), count: 20),
                                   total: 200, next: Self.next(70, limit: 20), offset: 50, limit: 20)
        XCTAssertEqual(ItemsPageAgreement.request(after: page, r), ItemsPageRequest(playlistID: "P1", offset: 70, limit: 20))
    }
}
