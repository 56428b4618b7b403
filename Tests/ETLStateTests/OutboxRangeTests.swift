import ETLCore
import Foundation
import XCTest
@testable import ETLState

/// Sealed batches are recorded as seq ranges (schema 2): sealing writes only the ledger, a
/// batch keeps exactly its rows, unsealed rows are the ones above the last range, and a
/// database from schema 1 keeps its pending batches' rows, keys and bytes across the upgrade.
final class OutboxRangeTests: XCTestCase {
    private func tempPath() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent("state.db").path
    }

    private func artist(_ i: Int) -> Row {
        Row(table: .artists, values: [.string("ar\(i)"), .string("Artist \(i)"), .strings([]), .null, .null,
                                      .string("2026-11-25T10:00:00Z")])
    }

    private func reject(_ i: Int) -> Row {
        Row(table: .rejects, values: [.string("tracks"), .string("unavailable"), .string("p"), .int(Int64(i)),
                                      .string("null"), .string("2026-11-25T10:00:00Z")])
    }

    private func rows(_ s: StateStore, _ batch: Int64) throws -> [[Value]] {
        var out: [[Value]] = []
        try s.forEachRow(ofBatch: batch) { out.append($0) }
        return out
    }

    private func seal(_ s: StateStore, maxRows: Int = 1_000, force: Bool = true) throws -> [SealedBatch] {
        try s.seal(now: Date(), maxRows: maxRows, maxBytes: 1 << 30, maxAge: 3600, force: force,
                   keyFor: { t, id, _ in "\(t.rawValue)/\(id)" })
    }

    func testBatchesAreRangesOfTheirTable() throws {
        let s = try StateStore(path: try tempPath())
        // Two tables interleaved in one commit.
        var all: [Row] = []
        for i in 0..<25 { all.append(artist(i)); if i % 2 == 0 { all.append(reject(i)) } }
        try s.commitDimensions(seen: [], rows: all)
        XCTAssertEqual(try s.outboxSummary()[.artists]?.rows, 25)
        XCTAssertEqual(try s.outboxSummary()[.rejects]?.rows, 13)

        let batches = try seal(s, maxRows: 10)
        XCTAssertEqual(batches.filter { $0.table == .artists }.map(\.rowCount), [10, 10, 5])
        XCTAssertEqual(batches.filter { $0.table == .rejects }.map(\.rowCount), [10, 3])
        XCTAssertTrue(try s.outboxSummary().isEmpty, "everything sealed")
        let artistBatches = batches.filter { $0.table == .artists }
        XCTAssertEqual(try artistBatches.flatMap { try rows(s, $0.batchID) }, (0..<25).map { artist($0).values })
        XCTAssertEqual(try batches.filter { $0.table == .rejects }.flatMap { try rows(s, $0.batchID) },
                       stride(from: 0, to: 25, by: 2).map { reject($0).values })

        // Rows committed after sealing are not in any sealed batch, and are unsealed.
        try s.commitDimensions(seen: [], rows: [artist(100), artist(101)])
        XCTAssertEqual(try rows(s, artistBatches[2].batchID), (20..<25).map { artist($0).values })
        XCTAssertEqual(try s.outboxSummary()[.artists]?.rows, 2)
        XCTAssertNil(try s.outboxSummary()[.rejects])

        // Uploading a batch deletes its range only.
        try s.markUploaded(batchID: artistBatches[1].batchID, location: "x", etag: nil, at: Date())
        XCTAssertEqual(try rows(s, artistBatches[1].batchID), [])
        XCTAssertEqual(try rows(s, artistBatches[0].batchID), (0..<10).map { artist($0).values })
        XCTAssertEqual(try rows(s, artistBatches[2].batchID), (20..<25).map { artist($0).values })
        XCTAssertEqual(try s.outboxSummary()[.artists]?.rows, 2)

        // Upload everything: the outbox empties, and new rows still number on above the last
        // range, so they are unsealed and seal into a batch of their own.
        for b in batches where b.batchID != artistBatches[1].batchID {
            try s.markUploaded(batchID: b.batchID, location: "x", etag: nil, at: Date())
        }
        let more = try seal(s)
        XCTAssertEqual(more.map(\.rowCount), [2])
        try s.markUploaded(batchID: more[0].batchID, location: "x", etag: nil, at: Date())
        XCTAssertEqual(try s.db.scalarInt("SELECT count(*) FROM outbox"), 0)
        try s.commitDimensions(seen: [], rows: [artist(200)])
        XCTAssertEqual(try s.outboxSummary()[.artists]?.rows, 1, "a row after an emptied outbox is unsealed")
        let last = try seal(s)
        XCTAssertEqual(last.map(\.rowCount), [1])
        XCTAssertEqual(try rows(s, last[0].batchID), [artist(200).values])
        XCTAssertGreaterThan(last[0].batchID, more[0].batchID)
    }

    /// Batches cut inside entries (commits of 7 rows, batches of 5), uploaded out of order:
    /// every batch yields exactly its rows until it is uploaded, and an entry is deleted only
    /// when nothing needs it any more.
    func testBatchesCutInsideEntriesAndOutOfOrderUploads() throws {
        let s = try StateStore(path: try tempPath())
        for c in 0..<4 { try s.commitDimensions(seen: [], rows: (c * 7..<(c * 7 + 7)).map(artist)) }
        let batches = try seal(s, maxRows: 5, force: false)  // 28 rows: five full batches, 3 left unsealed
        XCTAssertEqual(batches.map(\.rowCount), [5, 5, 5, 5, 5])
        XCTAssertEqual(try s.outboxSummary()[.artists]?.rows, 3)
        for (i, b) in batches.enumerated() {
            XCTAssertEqual(try rows(s, b.batchID), (i * 5..<(i * 5 + 5)).map { artist($0).values })
        }
        func entries() throws -> Int64 { try s.db.scalarInt("SELECT count(*) FROM outbox") }
        XCTAssertEqual(try entries(), 4)
        // Batch 2 (rows 5-9: entries 0 and 1) first: entry 0 is still needed by batch 1,
        // entry 1 by batch 3.
        try s.markUploaded(batchID: batches[1].batchID, location: "x", etag: nil, at: Date())
        XCTAssertEqual(try entries(), 4)
        XCTAssertEqual(try rows(s, batches[1].batchID), [], "an uploaded batch yields nothing")
        XCTAssertEqual(try rows(s, batches[0].batchID), (0..<5).map { artist($0).values })
        XCTAssertEqual(try rows(s, batches[2].batchID), (10..<15).map { artist($0).values })
        try s.markUploaded(batchID: batches[0].batchID, location: "x", etag: nil, at: Date())
        XCTAssertEqual(try entries(), 3, "entry 0 (rows 0-6) is done")
        try s.markUploaded(batchID: batches[4].batchID, location: "x", etag: nil, at: Date())
        XCTAssertEqual(try entries(), 3, "entry 3 still holds unsealed rows 25-27, entry 2 is needed by batch 4")
        try s.markUploaded(batchID: batches[2].batchID, location: "x", etag: nil, at: Date())
        try s.markUploaded(batchID: batches[3].batchID, location: "x", etag: nil, at: Date())
        XCTAssertEqual(try entries(), 1, "only the entry with unsealed rows is left")
        XCTAssertEqual(try s.outboxSummary()[.artists]?.rows, 3)
        let tail = try seal(s)
        XCTAssertEqual(try rows(s, tail[0].batchID), (25..<28).map { artist($0).values })
        try s.markUploaded(batchID: tail[0].batchID, location: "x", etag: nil, at: Date())
        XCTAssertEqual(try entries(), 0)
    }

    func testSealedBatchReadsTheSameEveryTime() throws {
        let path = try tempPath()
        var s: StateStore? = try StateStore(path: path)
        try s!.commitDimensions(seen: [], rows: (0..<700).map(artist))
        let b = try XCTUnwrap(try seal(s!).first)
        let before = try rows(s!, b.batchID)
        // More rows, a reopen (as after a crash), more rows: the batch is unchanged.
        try s!.commitDimensions(seen: [], rows: (700..<750).map(artist))
        s = nil
        s = try StateStore(path: path)
        try s!.commitDimensions(seen: [], rows: (750..<760).map(artist))
        XCTAssertEqual(try rows(s!, b.batchID), before)
        XCTAssertEqual(before.count, 700)
        XCTAssertEqual(try s!.unuploadedBatches().map(\.objectKey), [b.objectKey])
        XCTAssertEqual(try s!.outboxSummary()[.artists]?.rows, 60)
    }

    /// A schema-1 file: membership rows, a batch uploaded (rows deleted), a batch sealed but
    /// not uploaded, and unsealed rows of two tables. After the upgrade the pending batch
    /// yields the same rows, the unsealed rows seal as before, and membership is unchanged.
    func testUpgradeFromSchemaOne() throws {
        let path = try tempPath()
        let members: [Member] = [
            Member(itemKey: "t1", itemType: .track, trackID: "t1", episodeID: nil, position: 0, addedAt: "2026-01-01T00:00:00Z", addedBy: "u"),
            Member(itemKey: "t1", itemType: .track, trackID: "t1", episodeID: nil, position: 1, addedAt: nil, addedBy: nil),
            Member(itemKey: "spotify:local:a:b:c:1", itemType: .local, trackID: nil, episodeID: nil, position: 2, addedAt: nil, addedBy: "u"),
            Member(itemKey: "e1", itemType: .episode, trackID: nil, episodeID: "e1", position: 3, addedAt: nil, addedBy: "ü"),
        ]
        do {
            let db = try Database(path: path)
            guard case .sql(let v1) = Migrations.all[0] else { return XCTFail("schema 1 is SQL") }
            try db.exec(v1)
            try db.exec("PRAGMA user_version = 1")
            let ins = try db.prepare("""
                INSERT INTO members(playlist_id, item_key, ordinal, item_type, track_id, episode_id, position, added_at, added_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            // Inserted in reverse, with ordinals as schema 1 numbered them.
            for (i, m) in members.enumerated().reversed() {
                try ins.bind(1, "p1"); try ins.bind(2, m.itemKey); try ins.bind(3, i == 1 ? 1 : 0)
                try ins.bind(4, m.itemType.rawValue); try ins.bind(5, m.trackID); try ins.bind(6, m.episodeID)
                try ins.bind(7, m.position); try ins.bind(8, m.addedAt); try ins.bind(9, m.addedBy)
                try ins.run()
            }
            try db.exec("""
                INSERT INTO batches(batch_id, table_name, object_key, row_count, byte_estimate, sealed_at, uploaded_at)
                VALUES (1, 'artists', 'artists/old-1', 2, 10, 1, 2), (2, 'artists', 'artists/old-2', 3, 10, 3, NULL);
                """)
            let o = try db.prepare("INSERT INTO outbox(id, table_name, payload, approx_bytes, created_at, batch_id) VALUES (?, ?, ?, 1, 5, ?)")
            // ids 3..5: batch 2 (artists); 6: unsealed reject; 7..8: unsealed artists.
            for (id, row, batch) in [(3, artist(3), 2), (4, artist(4), 2), (5, artist(5), 2), (6, reject(6), nil),
                                     (7, artist(7), nil), (8, artist(8), nil)] as [(Int, Row, Int?)] {
                try o.bind(1, id); try o.bind(2, row.table.rawValue); try o.bind(3, JSONText.encodeValues(row.values))
                try o.bind(4, batch); try o.run()
            }
        }
        let s = try StateStore(path: path)
        XCTAssertEqual(try s.schemaVersion(), Migrations.all.count)
        XCTAssertEqual(try s.members("p1"), members)
        XCTAssertEqual(try s.members("unknown"), [])
        XCTAssertEqual(try rows(s, 1), [], "uploaded before the upgrade: nothing left")
        XCTAssertEqual(try rows(s, 2), [3, 4, 5].map { artist($0).values })
        XCTAssertEqual(try s.unuploadedBatches().map(\.objectKey), ["artists/old-2"])
        XCTAssertEqual(try s.outboxSummary()[.artists]?.rows, 2)
        XCTAssertEqual(try s.outboxSummary()[.rejects]?.rows, 1)

        try s.commitDimensions(seen: [], rows: [artist(9)])
        let sealed = try seal(s)
        XCTAssertEqual(try sealed.filter { $0.table == .artists }.flatMap { try rows(s, $0.batchID) }, [7, 8, 9].map { artist($0).values })
        XCTAssertEqual(try sealed.filter { $0.table == .rejects }.flatMap { try rows(s, $0.batchID) }, [reject(6).values])
        XCTAssertTrue(sealed.allSatisfy { $0.batchID > 2 })
        try s.markUploaded(batchID: 2, location: "x", etag: nil, at: Date())
        XCTAssertEqual(try rows(s, 2), [])
        XCTAssertEqual(try sealed.filter { $0.table == .artists }.flatMap { try rows(s, $0.batchID) }, [7, 8, 9].map { artist($0).values })
        XCTAssertEqual(try s.integrityCheck(), "ok")
        // Entry ids carry on from schema 1's counter even once the outbox is empty.
        for b in sealed { try s.markUploaded(batchID: b.batchID, location: "x", etag: nil, at: Date()) }
        XCTAssertEqual(try s.db.scalarInt("SELECT count(*) FROM outbox"), 0)
        try s.commitDimensions(seen: [], rows: [artist(10)])
        XCTAssertGreaterThan(try s.db.scalarInt("SELECT MAX(id) FROM outbox"), 8)
    }

    func testCorruptMembershipNamesThePlaylist() throws {
        let s = try StateStore(path: try tempPath())
        try s.db.exec("INSERT INTO member_sets(playlist_id, data) VALUES ('p9', x'01ff')")
        XCTAssertThrowsError(try s.members("p9")) { e in
            XCTAssertEqual(e as? StateError, .corruptMembership(playlistID: "p9", reason: MemberSetCodec.DecodeError.truncated.description))
            XCTAssertTrue("\(e)".contains("p9"))
        }
    }
}
