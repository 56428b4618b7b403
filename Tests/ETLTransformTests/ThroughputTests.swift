import Foundation
import XCTest
@testable import ETLTransform

/// Throughput sanity: runs the whole pure pipeline (parse page → entries → snapshot transform
/// → rows) over many items and checks the results, printing items/s. Not a timed assertion:
/// speed is measured by the benchmark, this only proves the path scales and stays correct.
final class ThroughputTests: XCTestCase {
    func testWholePipelineOverManyItems() throws {
        let n = 5_000
        let entries = (0..<n).map { i -> String in
            i % 50 == 0 ? Fixtures.entry(Fixtures.episode(id: "ep\(i)"))
                : Fixtures.entry(Fixtures.track(id: "t\(i)", albumID: "al\(i % 300)", artists: [("ar\(i % 500)", "Artist \(i % 500)")]))
        }
        let body = Array(Fixtures.page(entries, total: n).utf8)
        let meta = PlaylistMeta(id: "p", snapshotID: "s", name: "x")

        let start = Date()
        let page = try decodeItemsPage(body)
        let parsed = page.entries.enumerated().map { parseEntry($0.element, position: page.offset + $0.offset) }
        let r = SnapshotTransform.apply(meta: meta, entries: parsed, previous: [], observedAt: "2026-01-01T00:00:00Z")
        let rows = r.dimensions.map { $0.row(observedAt: "2026-01-01T00:00:00Z") }
        let secs = Date().timeIntervalSince(start)

        XCTAssertEqual(r.members.count, n)
        XCTAssertEqual(r.eventRows.count, n)
        XCTAssertTrue(r.rejects.isEmpty)
        let trackIs = (0..<n).filter { $0 % 50 != 0 }
        let expected = trackIs.count + (n - trackIs.count) + Set(trackIs.map { $0 % 300 }).count + Set(trackIs.map { $0 % 500 }).count
        XCTAssertEqual(rows.count, expected)
        print("ETLTransform throughput: \(Int(Double(n) / secs)) items/s (\(body.count) bytes, \(String(format: "%.3f", secs)) s; debug build unless -c release)")

        // For comparison only: Foundation's parser on the same bytes.
        let t0 = Date()
        _ = try JSONSerialization.jsonObject(with: Data(body))
        let t1 = Date()
        _ = try JSONParser.parse(body)
        let t2 = Date()
        print("parse only: JSONSerialization \(String(format: "%.3f", t1.timeIntervalSince(t0))) s, JSONParser \(String(format: "%.3f", t2.timeIntervalSince(t1))) s")
    }
}
