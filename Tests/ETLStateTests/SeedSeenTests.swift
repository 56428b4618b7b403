import ETLCore
import Foundation
import XCTest
@testable import ETLState

final class SeedSeenTests: XCTestCase {
    private func store() throws -> StateStore {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seedseen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return try StateStore(path: dir.appendingPathComponent("state.db").path)
    }

    func testSeedsLazilyAndLookupsSeeThem() throws {
        let s = try store()
        let n = try s.seedSeen(kind: .track, ids: (0..<5000).lazy.map { "t\($0)" }, complete: true)
        XCTAssertEqual(n, 5000)
        let states = try s.seenStates(kind: .track, ids: ["t0", "t4999", "t5000", "t0"])
        XCTAssertEqual(states, ["t0": .complete, "t4999": .complete, "t5000": .unseen])
        // Kinds are separate.
        XCTAssertEqual(try s.seenState(kind: .album, id: "t0"), .unseen)
    }

    func testCompleteNeverRegresses() throws {
        let s = try store()
        try s.seedSeen(kind: .artist, ids: ["a", "b"], complete: false)
        try s.seedSeen(kind: .artist, ids: ["a"], complete: true)
        try s.seedSeen(kind: .artist, ids: ["a", "b"], complete: false)
        XCTAssertEqual(try s.seenStates(kind: .artist, ids: ["a", "b"]), ["a": .complete, "b": .incomplete])
    }

    func testSeenLookupsLeaveNoTransactionOpen() throws {
        let s = try store()
        try s.seedSeen(kind: .track, ids: ["x"], complete: true)
        _ = try s.seenStates(kind: .track, ids: ["x", "y"])
        // A write right after a lookup must not fail with "cannot start a transaction within a transaction".
        try s.commit(SnapshotCommit(playlistID: "p", snapshotID: "s1", name: "n", itemCount: 0, maxAddedAt: nil,
                                    changedAt: Date(), polledAt: Date(), members: [], seen: [SeenMark(.track, "y", complete: true)],
                                    rejectHashes: [], rows: [], nextDueAt: nil))
        XCTAssertEqual(try s.seenStates(kind: .track, ids: ["x", "y"]), ["x": .complete, "y": .complete])
    }
}
