import ETLCore
import Foundation
import XCTest
@testable import ETLState

/// `seen.dims`: track dimension fingerprints written with the commit, upserted, read back
/// with the seen state, and NULL for rows from before the migration.
final class SeenDimsTests: XCTestCase {
    private func tempPath() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seendims-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent("state.db").path
    }

    private func commit(_ s: StateStore, _ snap: String, seen: [SeenMark] = [], dims: [SeenDims] = [],
                        rows: [Row] = []) throws {
        try s.commit(SnapshotCommit(playlistID: "p", snapshotID: snap, name: "n", itemCount: 0, maxAddedAt: nil,
                                    changedAt: Date(), polledAt: Date(), members: [], seen: seen, rows: rows, dims: dims))
    }

    func testCommitWritesDimsAndLookupsReturnThem() throws {
        let s = try StateStore(path: try tempPath())
        let big: UInt64 = 0xF123_4567_89AB_CDEF  // high bit set: stored as a negative INTEGER
        try commit(s, "s1", seen: [SeenMark(.track, "t1", complete: true, dims: big),
                                   SeenMark(.track, "t2", complete: true),
                                   SeenMark(.album, "l1", complete: true),
                                   SeenMark(.artist, "a1", complete: false)])
        XCTAssertEqual(try s.seenRecords(kind: .track, ids: ["t1", "t2", "t3", "t1"]),
                       ["t1": SeenRecord(.complete, dims: big), "t2": SeenRecord(.complete, dims: nil), "t3": SeenRecord(.unseen)])
        XCTAssertEqual(try s.seenRecords(kind: .artist, ids: ["a1"]), ["a1": SeenRecord(.incomplete)])
        // seenStates is unchanged by the new column.
        XCTAssertEqual(try s.seenStates(kind: .track, ids: ["t1", "t3"]), ["t1": .complete, "t3": .unseen])
    }

    func testUpsertReplacesDimsKeepsThemOnNilAndCompleteNeverRegresses() throws {
        let s = try StateStore(path: try tempPath())
        try commit(s, "s1", seen: [SeenMark(.track, "t", complete: true, dims: 1), SeenMark(.artist, "a", complete: true)])
        try commit(s, "s2", seen: [SeenMark(.track, "t", complete: true, dims: 2), SeenMark(.artist, "a", complete: false)])
        XCTAssertEqual(try s.seenRecords(kind: .track, ids: ["t"])["t"], SeenRecord(.complete, dims: 2))
        XCTAssertEqual(try s.seenState(kind: .artist, id: "a"), .complete, "complete never regresses")
        try commit(s, "s3", seen: [SeenMark(.track, "t", complete: true, dims: nil)])
        XCTAssertEqual(try s.seenRecords(kind: .track, ids: ["t"])["t"], SeenRecord(.complete, dims: 2), "nil keeps the stored fingerprint")
        // The bulk seeding path uses the same upsert.
        try s.seedSeen([SeenMark(.track, "t", complete: false, dims: 3), SeenMark(.track, "u", complete: true, dims: 4)])
        XCTAssertEqual(try s.seenRecords(kind: .track, ids: ["t", "u"]),
                       ["t": SeenRecord(.complete, dims: 3), "u": SeenRecord(.complete, dims: 4)])
    }

    func testDimsUpdatesOnlyTouchSeenIdsAndShareTheCommitTransaction() throws {
        let s = try StateStore(path: try tempPath())
        try commit(s, "s1", seen: [SeenMark(.track, "t", complete: true, dims: 1)])
        try commit(s, "s2", dims: [SeenDims(.track, "t", dims: 7), SeenDims(.track, "never-seen", dims: 8)])
        XCTAssertEqual(try s.seenRecords(kind: .track, ids: ["t", "never-seen"]),
                       ["t": SeenRecord(.complete, dims: 7), "never-seen": SeenRecord(.unseen)],
                       "an update never marks an id seen")
        // A commit that fails part-way (here: storing its membership) rolls back its dims
        // update with everything else.
        let bad = SnapshotCommit(playlistID: "p", snapshotID: "s3", name: "n", itemCount: 1, maxAddedAt: nil,
                                 changedAt: Date(), polledAt: Date(), members: [
                                     Member(itemKey: "k", itemType: .track, trackID: "t", episodeID: nil, position: 0,
                                            addedAt: nil, addedBy: nil),
                                 ], dims: [SeenDims(.track, "t", dims: 9)])
        try s.db.exec("CREATE TRIGGER fail_members BEFORE INSERT ON member_sets BEGIN SELECT RAISE(ABORT, 'boom'); END")
        XCTAssertThrowsError(try s.commit(bad))
        XCTAssertEqual(try s.seenRecords(kind: .track, ids: ["t"])["t"], SeenRecord(.complete, dims: 7))
    }

    func testLookupCountsCountDistinctIdsPerKind() throws {
        let s = try StateStore(path: try tempPath())
        XCTAssertEqual(s.seenLookupCounts(), [:])
        _ = try s.seenStates(kind: .album, ids: ["a", "b", "a"])
        _ = try s.seenRecords(kind: .track, ids: ["t"])
        _ = try s.seenRecords(kind: .track, ids: ["t", "u"])
        XCTAssertEqual(s.seenLookupCounts(), [.album: 2, .track: 3])
    }

    /// A state file written before the dims column (migrations 1–3) with seen rows: opening it
    /// migrates in place, keeps the rows, and their fingerprint is NULL.
    func testMigrationFromThePreviousVersionKeepsSeenRowsWithNullDims() throws {
        let path = try tempPath()
        let previous = 3
        do {
            let db = try Database(path: path)
            for m in Migrations.all.prefix(previous) { try Migrations.apply(m, to: db) }
            try db.exec("PRAGMA user_version = \(previous)")
            try db.exec("""
                INSERT INTO seen(kind, id, complete) VALUES ('track', 't1', 1), ('album', 'l1', 1), ('artist', 'a1', 0)
                """)
            XCTAssertThrowsError(try db.exec("SELECT dims FROM seen"), "the previous schema has no dims column")
        }
        let s = try StateStore(path: path)
        XCTAssertEqual(try s.schemaVersion(), Migrations.all.count)
        XCTAssertEqual(try s.seenRecords(kind: .track, ids: ["t1", "t2"]),
                       ["t1": SeenRecord(.complete, dims: nil), "t2": SeenRecord(.unseen)])
        XCTAssertEqual(try s.seenRecords(kind: .artist, ids: ["a1"]), ["a1": SeenRecord(.incomplete)])
        XCTAssertEqual(try s.seenState(kind: .album, id: "l1"), .complete)
        // The old row takes a fingerprint like any other.
        try commit(s, "s1", dims: [SeenDims(.track, "t1", dims: 5)])
        XCTAssertEqual(try s.seenRecords(kind: .track, ids: ["t1"])["t1"], SeenRecord(.complete, dims: 5))
        // And a reopen does not migrate again.
        let again = try StateStore(path: path)
        XCTAssertEqual(try again.seenRecords(kind: .track, ids: ["t1"])["t1"], SeenRecord(.complete, dims: 5))
    }
}
