import Foundation
import XCTest
@testable import ETLHealth

/// `status` of an instance with `[instance]`: its id and its shard's share of the list, in
/// the table and in the JSON; reports without it look as before.
final class StatusInstanceTests: XCTestCase {
    func testShardShownAsConfigured() throws {
        var r = sampleReport()
        r.instance = .init(id: "eu-2", shard: .init(index: 2, count: 5, playlists: 41, listed: 200))
        let table = r.renderTable()
        XCTAssertTrue(table.contains("\ninstance        eu-2, shard 2/5: 41 of 200 playlists\n"), table)

        let line = r.jsonLine()
        XCTAssertTrue(line.contains(#""instance":{"id":"eu-2","shard":{"count":5,"index":2,"listed":200,"playlists":41}}"#), line)
        XCTAssertEqual(try JSONDecoder().decode(StatusReport.self, from: Data(line.utf8)), r)
    }

    func testIDWithoutShards() {
        var r = sampleReport()
        r.instance = .init(id: "solo")
        XCTAssertTrue(r.renderTable().contains("\ninstance        solo\n"), r.renderTable())
        XCTAssertTrue(r.jsonLine().contains(#""instance":{"id":"solo"}"#), r.jsonLine())
    }

    func testNoInstanceNoLineAndNoField() throws {
        let r = sampleReport()
        XCTAssertFalse(r.renderTable().contains("instance"))
        XCTAssertFalse(r.jsonLine().contains("\"instance\""))
        // A report from a daemon without the field decodes with none.
        XCTAssertNil(try JSONDecoder().decode(StatusReport.self, from: Data(r.jsonLine().utf8)).instance)
    }
}
