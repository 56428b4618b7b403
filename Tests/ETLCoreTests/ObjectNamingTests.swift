import ETLCore
import FoundationEssentials
import XCTest

/// Object names without and with `[instance] id`.
final class ObjectNamingTests: XCTestCase {
    let sealedAt = Date(timeIntervalSince1970: 1_795_000_000) // 2026-11-19T...Z

    func testNamesWithoutInstanceIDAreUnchanged() {
        let day = Timestamp.day(sealedAt)
        XCTAssertEqual(ObjectNaming(format: .ndjson, gzip: true).key(table: .playlistItems, batchID: 1, sealedAt: sealedAt),
                       "playlist_items/dt=\(day)/playlist_items-000000000001.ndjson.gz")
        XCTAssertEqual(ObjectNaming(format: .csv, gzip: false).key(table: .tracks, batchID: 123_456_789_012, sealedAt: sealedAt),
                       "tracks/dt=\(day)/tracks-123456789012.csv")
    }

    func testNamesWithInstanceID() {
        let day = Timestamp.day(sealedAt)
        XCTAssertEqual(ObjectNaming(format: .ndjson, gzip: true, instanceID: "eu-2")
                        .key(table: .playlistItems, batchID: 1, sealedAt: sealedAt),
                       "playlist_items/dt=\(day)/playlist_items-eu-2-000000000001.ndjson.gz")
        XCTAssertEqual(ObjectNaming(format: .csv, gzip: true, instanceID: "a")
                        .key(table: .polls, batchID: 42, sealedAt: sealedAt),
                       "polls/dt=\(day)/polls-a-000000000042.csv.gz")
        // Same batch id, different instances: different names; same instance: the same name.
        let a = ObjectNaming(format: .ndjson, gzip: true, instanceID: "a"), b = ObjectNaming(format: .ndjson, gzip: true, instanceID: "b")
        XCTAssertNotEqual(a.key(table: .tracks, batchID: 7, sealedAt: sealedAt), b.key(table: .tracks, batchID: 7, sealedAt: sealedAt))
        XCTAssertEqual(a.key(table: .tracks, batchID: 7, sealedAt: sealedAt), a.key(table: .tracks, batchID: 7, sealedAt: sealedAt))
    }
}
