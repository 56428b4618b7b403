import ETLCore
import Foundation
import XCTest
@testable import ETLState

/// `commit` writes only the membership rows that changed; the stored result must still be
/// exactly the new snapshot's membership, whatever moved, repeated, changed or vanished.
final class MembershipReplaceTests: XCTestCase {
    private func store() throws -> StateStore {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("members-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return try StateStore(path: dir.appendingPathComponent("state.db").path)
    }

    private func t(_ id: String, _ pos: Int, addedAt: String? = "2025-01-01T00:00:00Z", by: String? = "u") -> Member {
        Member(itemKey: id, itemType: .track, trackID: id, episodeID: nil, position: pos, addedAt: addedAt, addedBy: by)
    }

    private func commit(_ s: StateStore, _ snap: String, _ members: [Member]?) throws {
        try s.commit(SnapshotCommit(playlistID: "p1", snapshotID: snap, name: "n", itemCount: members?.count ?? 0,
                                    maxAddedAt: nil, changedAt: Date(), polledAt: Date(), members: members))
    }

    func testStoredMembershipEqualsEachNewSnapshot() throws {
        let s = try store()
        let other = [t("x", 0)]
        try s.commit(SnapshotCommit(playlistID: "p2", snapshotID: "o", name: nil, itemCount: 1, maxAddedAt: nil,
                                    changedAt: Date(), polledAt: Date(), members: other))
        let snapshots: [[Member]] = [
            [t("a", 0), t("b", 1), t("a", 2), t("c", 3)],
            // moved, one occurrence of a repeated item gone, added_at changed, new item, local + episode
            [t("b", 0), t("a", 1, addedAt: "2025-02-02T00:00:00Z"), t("d", 2),
             Member(itemKey: "spotify:local:x", itemType: .local, trackID: nil, episodeID: nil, position: 3, addedAt: nil, addedBy: nil),
             Member(itemKey: "e1", itemType: .episode, trackID: nil, episodeID: "e1", position: 4, addedAt: nil, addedBy: "v")],
            // same again (nothing to write), then a repeat appears, then empty
            [t("b", 0), t("a", 1, addedAt: "2025-02-02T00:00:00Z"), t("d", 2),
             Member(itemKey: "spotify:local:x", itemType: .local, trackID: nil, episodeID: nil, position: 3, addedAt: nil, addedBy: nil),
             Member(itemKey: "e1", itemType: .episode, trackID: nil, episodeID: "e1", position: 4, addedAt: nil, addedBy: "v")],
            [t("d", 0), t("d", 1, by: nil), t("b", 2)],
            [],
        ]
        for (i, members) in snapshots.enumerated() {
            try commit(s, "s\(i)", members)
            XCTAssertEqual(try s.members("p1"), members, "snapshot \(i)")
            XCTAssertEqual(try s.members("p2"), other, "other playlist untouched at \(i)")
        }
        // nil keeps the stored membership.
        try commit(s, "s9", [t("z", 0)])
        try commit(s, "s10", nil)
        XCTAssertEqual(try s.members("p1"), [t("z", 0)])
    }
}
