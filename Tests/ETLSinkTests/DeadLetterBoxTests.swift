import ETLCore
import Foundation
import XCTest
@testable import ETLSink

/// A dead letter is two durable files, the `.reason` last; the summary counts complete ones.
final class DeadLetterBoxTests: XCTestCase {
    func testPutWritesRowsThenReasonAndSummaryCountsThem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dl-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let box = DeadLetterBox(directory: dir.appendingPathComponent("dead-letter"))
        XCTAssertEqual(box.summary(), DeadLetterBox.Summary(count: 0))
        let raw: [[UInt8]] = [Array("[\"ok\"]".utf8), [0xFF, 0x00, 0x7B]]
        let path = try box.put(table: .tracks, batchID: 42, objectKey: "tracks/dt=2026-12-01/tracks-000000000042.ndjson.gz",
                               reason: "outbox row 7: undecodable payload", at: Date(timeIntervalSince1970: 1_800_000_000)) { line in
            for r in raw { try r.withUnsafeBufferPointer { try line($0) } }
        }
        XCTAssertEqual(path, box.directory.path + "/tracks-000000000042.rows")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data(raw[0] + [0x0A] + raw[1] + [0x0A]))
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attrs[.posixPermissions] as? Int).map { $0 & 0o777 }, 0o600)
        let summary = box.summary()
        XCTAssertEqual(summary.count, 1)
        XCTAssertEqual(summary.latest?.batchID, 42)
        XCTAssertEqual(summary.latest?.lines, 2)
        XCTAssertEqual(summary.latest?.reason, "outbox row 7: undecodable payload")
        XCTAssertEqual(summary.latest?.columns, Table.tracks.columns)
        XCTAssertEqual(summary.latest?.quarantinedAt, "2027-01-15T08:00:00Z")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: box.directory.path).sorted(),
                       ["tracks-000000000042.reason", "tracks-000000000042.rows"], "no temp file left")

        // A failing row source leaves no dead letter (nothing complete to count).
        struct Boom: Error {}
        XCTAssertThrowsError(try box.put(table: .albums, batchID: 43, objectKey: "k", reason: "r", at: Date()) { _ in throw Boom() })
        XCTAssertEqual(box.summary().count, 1)
    }
}
