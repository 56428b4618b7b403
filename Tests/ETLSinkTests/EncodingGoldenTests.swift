import ETLCore
@testable import ETLSink
import ETLTestSupport
import Foundation
import XCTest

/// Pins the Swift encoders to the golden bytes under Tests/snowflake/golden, which the
/// Snowflake DDL tests load (through a Python port of the same encoders). If either side
/// drifts, one of the two suites fails.
final class EncodingGoldenTests: XCTestCase {
    private func golden(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: TestSupport.packageRoot + "/Tests/snowflake/golden/" + name)))
    }

    func testNDJSONMatchesGolden() throws {
        var out: [UInt8] = []
        NDJSONEncoder().encode(values: [.string("pl\"x"), .string("snap\\1"), .string("Tab\there \u{01} ☕ Zoë"), .string(""),
                                        .string("u1"), .string("Ω"), .null, .bool(true), .null, .int(0),
                                        .string("2026-11-25T09:49:24Z")],
                               batchID: 42, table: .playlists, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), String(decoding: try golden("playlists-000000000042.ndjson"), as: UTF8.self))
    }

    func testCSVMatchesGolden() throws {
        let enc = CSVEncoder(table: .tracks)
        var out = enc.header ?? []
        let rows: [[Value]] = [
            [.string("t1"), .string("Hello, \"World\""), .int(1000), .bool(false), .int(1), .int(2), .null, .null,
             .string("a1"), .strings(["ar1", "ar\"2"]), .string("spotify:track:t1"), .string("2026-11-25T09:49:24Z")],
            [.string("t2"), .string(""), .int(0), .bool(true), .int(1), .int(1), .string("US-ABC"), .int(0),
             .string("a2"), .strings([]), .string(" lead space"), .string("2026-11-25T09:49:24Z")],
            [.string("t3"), .string("line1\r\nline2"), .int(-5), .bool(false), .int(2), .int(10), .string("AC\\DC"),
             .int(100), .string("a3"), .strings(["ar3"]), .string("日本語"), .string("2026-11-25T09:49:24Z")],
        ]
        for r in rows { enc.encode(values: r, batchID: 7, table: .tracks, into: &out) }
        XCTAssertEqual(out, try golden("tracks-000000000007.csv"))
    }
}
