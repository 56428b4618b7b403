import ETLCore
import Foundation
import XCTest
@testable import ETLSink

final class EncodingNDJSONTests: XCTestCase {
    private func encode(_ rows: [[Value]], table: Table, batchID: Int64) -> [UInt8] {
        var out: [UInt8] = []
        let e = NDJSONEncoder()
        XCTAssertNil(e.header)
        for r in rows { e.encode(values: r, batchID: batchID, table: table, into: &out) }
        return out
    }

    /// Every tricky value survives a round trip through an independent JSON parser, byte for
    /// byte (compared as UTF-8, so canonically-equivalent but different strings would fail).
    func testRoundTripThroughJSONSerialization() throws {
        let rows = EncodingTestKit.trickyArtistRows()
        let bytes = encode(rows, table: .artists, batchID: 42)
        XCTAssertEqual(bytes.last, 0x0A)
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, rows.count + 1, "one line per row plus the empty tail after the final \\n")
        XCTAssertEqual(lines.last?.count, 0)

        for (row, line) in zip(rows, lines) {
            let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]) as? [String: Any])
            XCTAssertEqual(Set(obj.keys), Set(Table.artists.outputColumns))
            XCTAssertEqual((obj["batch_id"] as? NSNumber)?.int64Value, 42)
            for (i, column) in Table.artists.columns.enumerated() {
                let got = obj[column]
                switch row[i] {
                case .null: XCTAssertTrue(got is NSNull, "\(column) should be null, got \(String(describing: got))")
                case .string(let s):
                    XCTAssertEqual((got as? String).map { Array($0.utf8) }, Array(s.utf8), column)
                case .int(let n): XCTAssertEqual((got as? NSNumber)?.int64Value, n, column)
                case .bool(let b): XCTAssertEqual(got as? Bool, b, column)
                case .strings(let a):
                    let arr = try XCTUnwrap(got as? [String], column)
                    XCTAssertEqual(arr.map { Array($0.utf8) }, a.map { Array($0.utf8) }, column)
                }
            }
        }
    }

    /// Keys come out in contract order with batch_id last, so the text itself is stable.
    func testKeyOrderAndExactText() {
        let row: [Value] = [.string("pl1"), .string("snap"), .string("a\"b"), .null, .string("me"), .null,
                            .bool(true), .bool(false), .int(12), .int(3), .string("2026-11-25T10:00:00Z")]
        let text = String(decoding: encode([row], table: .playlists, batchID: 7), as: UTF8.self)
        XCTAssertEqual(text, #"{"playlist_id":"pl1","snapshot_id":"snap","name":"a\"b","description":null,"owner_id":"me","owner_name":null,"public":true,"collaborative":false,"followers":12,"item_count":3,"observed_at":"2026-11-25T10:00:00Z","batch_id":7}"# + "\n")
    }

    /// Control characters are escaped, so a record never spans two lines.
    func testNoRawControlCharactersInsideRecords() {
        let bytes = encode(EncodingTestKit.trickyArtistRows(), table: .artists, batchID: 1)
        let controls = bytes.filter { $0 < 0x20 && $0 != 0x0A }
        XCTAssertEqual(controls, [])
        XCTAssertEqual(bytes.filter { $0 == 0x0A }.count, EncodingTestKit.trickyArtistRows().count)
    }

    func testEncodingIsDeterministic() {
        let rows = EncodingTestKit.trickyArtistRows()
        XCTAssertEqual(encode(rows, table: .artists, batchID: 9), encode(rows, table: .artists, batchID: 9))
        XCTAssertNotEqual(encode(rows, table: .artists, batchID: 9), encode(rows, table: .artists, batchID: 10))
    }

    /// A short row (which the batch writer rejects before encoding) still yields a complete,
    /// parseable record instead of crashing.
    func testShortRowDoesNotCrash() throws {
        let bytes = encode([[.string("only-id")]], table: .artists, batchID: 1)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes.dropLast())) as? [String: Any])
        XCTAssertEqual(obj.count, Table.artists.outputColumns.count)
        XCTAssertTrue(obj["name"] is NSNull)
    }

    func testDecimalExtremes() {
        for n: Int64 in [0, 1, -1, 9, 10, -10, 1234567890, Int64.max, Int64.min] {
            var out: [UInt8] = []
            RecordBytes.appendDecimal(n, to: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), String(n))
        }
    }
}
