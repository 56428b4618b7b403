import ETLCore
import Foundation
import XCTest
@testable import ETLState

/// `forEachPayload` hands out each stored row's payload bytes (the text `JSONText.encodeValues`
/// wrote) and a decoder; across page boundaries it must yield the same rows, in the same
/// order, as `forEachRow`.
final class ForEachPayloadTests: XCTestCase {
    func testPayloadsAndDecodedValuesMatchForEachRow() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("payloads-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try StateStore(path: dir.appendingPathComponent("state.db").path)
        // 1,300 rows: more than two 512-row pages, with a partial last page.
        var rows: [Row] = []
        for i in 0..<1300 {
            let name: Value = i % 3 == 0 ? .null : .string("Name \"\(i)\" ☕\n")
            let genres: [String] = i % 2 == 0 ? [] : ["g\(i)", "x\\y"]
            let values: [Value] = [.string("ar\(i)"), name, .strings(genres), .int(Int64(i) * -7),
                                   .int(Int64(i % 100)), .string("2026-11-25T10:00:00Z")]
            rows.append(Row(table: .artists, values: values))
        }
        try s.commitDimensions(seen: [], rows: rows)
        let batches = try s.seal(now: Date(), maxRows: 10_000, maxBytes: 1 << 30, maxAge: 0, force: true,
                                 keyFor: { t, id, _ in "\(t.rawValue)-\(id)" })
        XCTAssertEqual(batches.count, 1)
        let id = try XCTUnwrap(batches.first).batchID

        var viaRows: [[Value]] = []
        try s.forEachRow(ofBatch: id) { viaRows.append($0) }
        var payloads: [String] = []
        var decoded: [[Value]] = []
        try s.forEachPayload(ofBatch: id) { bytes, decode in
            payloads.append(String(decoding: bytes, as: UTF8.self))
            decoded.append(try decode())
        }
        XCTAssertEqual(viaRows, rows.map { (r: Row) in r.values })
        XCTAssertEqual(decoded, viaRows)
        XCTAssertEqual(payloads, rows.map { (r: Row) in JSONText.encodeValues(r.values) })
        XCTAssertThrowsError(try s.forEachPayload(ofBatch: 999_999) { _, _ in })
    }
}
