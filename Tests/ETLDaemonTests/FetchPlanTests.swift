@testable import ETLDaemon
import XCTest

/// `FetchPlan`: which requests a poll makes, from the stored snapshot and size and from the
/// page `/playlists/{id}` embeds.
final class FetchPlanTests: XCTestCase {
    func testPlanFromTheStoredSnapshotAndSize() {
        let table: [(snapshot: String?, items: Int?, plan: FetchPlan, why: String)] = [
            (nil, nil, .embeddedFirst, "first load: no snapshot-only request"),
            (nil, 500, .embeddedFirst, "a size without a committed snapshot is no state to compare"),
            ("s", nil, .embeddedFirst, "size never stored: the one-request path finds out"),
            ("s", 0, .embeddedFirst, "empty"),
            ("s", 1, .embeddedFirst, "small"),
            ("s", 99, .embeddedFirst, "below the embedded page"),
            ("s", 100, .embeddedFirst, "exactly one embedded page"),
            ("s", 101, .snapshotFirst, "one item past the embedded page"),
            ("s", 500, .snapshotFirst, "large"),
            ("s", 10_000, .snapshotFirst, "Spotify's largest"),
        ]
        for row in table {
            XCTAssertEqual(FetchPlan.choose(knownSnapshot: row.snapshot, knownItems: row.items), row.plan, row.why)
        }
        XCTAssertEqual(FetchPlan.embeddedLimit, 100)
    }

    func testContinuationAfterTheEmbeddedPage() {
        let next = "https://api.spotify.com/v1/playlists/p/items?offset=100&limit=100"
        let table: [(offset: Int?, count: Int, next: String?, then: FetchPlan.Continuation, why: String)] = [
            (nil, 0, nil, .itemsFromStart, "no embedded page (a playlist the app may not read)"),
            (0, 0, nil, .complete, "empty playlist"),
            (0, 40, nil, .complete, "small playlist, whole"),
            (0, 100, nil, .complete, "exactly 100 items: no next, no further request"),
            (0, 100, next, .itemsFrom(offset: 100), "grew past 100: /items from 100"),
            (0, 60, "https://api.spotify.com/v1/playlists/p/items?offset=60&limit=60", .itemsFrom(offset: 60),
             "a shorter embedded page: /items from where it ends"),
        ]
        for row in table {
            XCTAssertEqual(FetchPlan.continuation(embeddedOffset: row.offset, count: row.count, next: row.next), row.then, row.why)
        }
    }
}
