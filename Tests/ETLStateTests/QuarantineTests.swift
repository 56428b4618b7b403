import ETLCore
import Foundation
import XCTest
@testable import ETLState

/// A batch whose stored rows are damaged is read back raw, marked quarantined in one step,
/// and from then on neither pending nor blocking: later batches stay deliverable and the
/// outbox entries it held are freed.
final class QuarantineTests: XCTestCase {
    private func store() throws -> StateStore {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quarantine-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return try StateStore(path: dir.appendingPathComponent("state.db").path)
    }

    private func artist(_ i: Int) -> Row {
        Row(table: .artists, values: [.string("ar\(i)"), .string("Artist \(i)"), .strings([]), .null, .null,
                                      .string("2026-11-25T10:00:00Z")])
    }

    private func seal(_ s: StateStore) throws -> [SealedBatch] {
        try s.seal(now: Date(), maxRows: 1_000, maxBytes: 1 << 30, maxAge: 3600, force: true,
                   keyFor: { t, id, _ in "\(t.rawValue)/\(id)" })
    }

    private func storedRows(_ s: StateStore, _ batch: Int64) throws -> [String] {
        var out: [String] = []
        try s.forEachStoredRow(ofBatch: batch) { out.append(String(decoding: $0, as: UTF8.self)) }
        return out
    }

    private func count(_ s: StateStore, _ sql: String) throws -> Int64 { try s.locked { try s.db.scalarInt(sql) } }

    /// Garbage of another length in a multi-row entry damages its length list: sealing still
    /// works (the entry's rows are counted from its row count), decoding fails with
    /// `.corruptPayload`, and the raw copy is the whole entry, once.
    func testDamagedEntryIsSealedReadRawQuarantinedAndReleased() throws {
        let s = try store()
        try s.commitDimensions(seen: [], rows: (0..<3).map(artist))      // entry 1: damaged below
        let first = try seal(s)
        try s.commitDimensions(seen: [], rows: (3..<5).map(artist))      // entry 2: a later, healthy batch
        try s.locked { try s.db.exec("UPDATE outbox SET payload = CAST('garbage{{' AS BLOB) WHERE id = 1") }
        try s.commitDimensions(seen: [], rows: [artist(9)])              // entry 3: unsealed at first
        let second = try seal(s)
        XCTAssertEqual(first.count, 1)
        XCTAssertEqual(second.map(\.rowCount), [3], "healthy rows seal as before")

        let bad = first[0]
        XCTAssertThrowsError(try s.forEachRow(ofBatch: bad.batchID) { _ in }) { e in
            guard case StateError.corruptPayload(let id, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(id, 1)
        }
        XCTAssertEqual(try storedRows(s, bad.batchID), ["garbage{{"], "the damaged entry whole, as stored")

        try s.markQuarantined(batchID: bad.batchID, deadLetter: "/dl/artists-1.rows", reason: "undecodable", at: Date())
        XCTAssertEqual(try s.unuploadedBatches().map(\.batchID), [second[0].batchID], "only the healthy batch is pending")
        XCTAssertEqual(try s.pendingBatchSummary()[.artists]?.rows, 3)
        let stamped = try XCTUnwrap(try s.batch(bad.batchID))
        XCTAssertNotNil(stamped.quarantinedAt)
        XCTAssertNil(stamped.uploadedAt)
        XCTAssertEqual(stamped.deadLetter, "/dl/artists-1.rows")
        XCTAssertEqual(stamped.lastError, "undecodable")
        XCTAssertEqual(try count(s, "SELECT COUNT(*) FROM outbox WHERE id = 1"), 0, "the quarantined entry is freed")
        XCTAssertEqual(try storedRows(s, bad.batchID), [], "a done batch yields nothing")

        // Idempotent: a repeat (a crash after the mark, before the flusher moved on) changes nothing.
        try s.markQuarantined(batchID: bad.batchID, deadLetter: "/elsewhere", reason: "again", at: Date())
        XCTAssertEqual(try s.batch(bad.batchID)?.deadLetter, "/dl/artists-1.rows")
        XCTAssertThrowsError(try s.markQuarantined(batchID: 999, deadLetter: "/x", reason: "r", at: Date()))

        // The later batch still reads and uploads, and its entries go.
        var values: [[Value]] = []
        try s.forEachRow(ofBatch: second[0].batchID) { values.append($0) }
        XCTAssertEqual(values, [artist(3), artist(4), artist(9)].map(\.values))
        try s.markUploaded(batchID: second[0].batchID, location: "/out/x", etag: nil, at: Date())
        XCTAssertEqual(try count(s, "SELECT COUNT(*) FROM outbox"), 0)
        XCTAssertEqual(try s.lastUpload()?.key, second[0].objectKey, "a quarantine is not an upload")
    }

    /// Garbage in a one-row entry keeps its length (no length list): sealing is untouched and
    /// the raw copy holds every row, the damaged one as stored.
    func testDamagedRowAmongHealthyOnesIsCopiedRowByRow() throws {
        let s = try store()
        for i in 0..<3 { try s.commitDimensions(seen: [], rows: [artist(i)]) }
        try s.locked { try s.db.exec("UPDATE outbox SET payload = CAST('[1,2' AS BLOB) WHERE id = 2") }
        let batches = try seal(s)
        XCTAssertEqual(batches.map(\.rowCount), [3])
        XCTAssertThrowsError(try s.forEachRow(ofBatch: batches[0].batchID) { _ in })
        let raw = try storedRows(s, batches[0].batchID)
        XCTAssertEqual(raw.count, 3)
        XCTAssertEqual(raw[1], "[1,2")
        XCTAssertEqual(raw[0], JSONText.encodeValues(artist(0).values))
    }
}
