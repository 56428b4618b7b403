import ETLCore
import XCTest
@testable import ETLTransform

final class SnapshotTransformTests: XCTestCase {
    let obs = "2026-03-02T00:00:00Z"
    let meta = PlaylistMeta(id: "p1", snapshotID: "s2", name: "Mix", description: nil, ownerID: "alice",
                            ownerName: "Alice", isPublic: true, collaborative: false, followers: nil, total: 5)

    func entries() -> [ParsedEntry] {
        let raw = [
            Fixtures.entry(Fixtures.track(artists: [("a1", "One"), ("a2", "Two")], albumArtists: [("a1", "One"), ("va", "Various")])),
            Fixtures.entry(Fixtures.episode(), addedAt: "2026-03-01T18:00:00Z", addedBy: "bob"),
            #"{"added_at":"2026-03-01T00:00:00Z","added_by":null,"item":null,"track":null}"#,
            Fixtures.entry(Fixtures.local, addedAt: nil, addedBy: nil),
            Fixtures.entry(Fixtures.track(id: "t2", albumID: "6XzE9JxZ6qmtuSZ1bjVTGC", artists: [("a2", "Two")])),
        ]
        return raw.enumerated().map { parseEntry(Fixtures.parse($0.element), position: $0.offset) }
    }

    func testFirstSnapshot() {
        let r = SnapshotTransform.apply(meta: meta, entries: entries(), previous: [], observedAt: obs)
        XCTAssertEqual(r.members.map(\.position), [0, 1, 3, 4])
        XCTAssertEqual(r.added, r.members)
        XCTAssertTrue(r.removed.isEmpty)
        XCTAssertEqual(r.eventRows.count, 4)
        XCTAssertEqual(r.eventRows[0].values, [
            .string("p1"), .string("s2"), .string("added"), .string("4iV5W9uYEdYUVa79Axb7Rh"), .string("track"),
            .string("4iV5W9uYEdYUVa79Axb7Rh"), .null, .int(0), .string("2026-03-01T12:00:00Z"), .string("alice"), .string(obs),
        ])
        XCTAssertEqual(r.eventRows[2]["item_key"], .string("spotify:local:Local+Band::My+Demo:184"))
        XCTAssertEqual(r.eventRows[2]["item_type"], .string("local"))
        XCTAssertEqual(r.eventRows[2]["added_at"], .null)
        XCTAssertEqual(r.maxAddedAt, "2026-03-01T18:00:00Z", "null-item reject's added_at does not count")
        XCTAssertEqual(r.dimensions.map(\.key), [
            DimensionKey(kind: .track, id: "4iV5W9uYEdYUVa79Axb7Rh"), DimensionKey(kind: .album, id: "6XzE9JxZ6qmtuSZ1bjVTGC"),
            DimensionKey(kind: .artist, id: "a1"), DimensionKey(kind: .artist, id: "a2"), DimensionKey(kind: .artist, id: "va"),
            DimensionKey(kind: .episode, id: "512ojhOuo1ktJprKbVcKyQ"), DimensionKey(kind: .track, id: "t2"),
        ])
        XCTAssertEqual(r.rejects.count, 1)
        let rej = r.rejects[0]
        XCTAssertEqual(rej.reason, "unavailable")
        XCTAssertEqual(rej.position, 2)
        XCTAssertEqual(rej.hash, RejectHash.of(rej.raw))
        XCTAssertEqual(rej.row.values, [.string("playlist_items"), .string("unavailable"), .string("p1"), .int(2),
                                        .string(#"{"added_at":"2026-03-01T00:00:00Z","added_by":null,"item":null,"track":null}"#),
                                        .string(obs)])
        XCTAssertEqual(r.dimensionsByKey[DimensionKey(kind: .artist, id: "va")]?.isComplete, false)
    }

    /// Entries marked known contribute no dimension facts; members, events and rejects are
    /// unchanged, and a fact shared with an unmarked entry is still collected.
    func testKnownDimensionsAreNotCollected() {
        let all = SnapshotTransform.apply(meta: meta, entries: entries(), previous: [], observedAt: obs)
        let r = SnapshotTransform.apply(meta: meta, entries: entries(), previous: [],
                                        knownDimensions: [true, false, false, false, false], observedAt: obs)
        XCTAssertEqual(r.members, all.members)
        XCTAssertEqual(r.eventRows, all.eventRows)
        XCTAssertEqual(r.rejects, all.rejects)
        XCTAssertEqual(r.dimensions.map(\.key), [
            DimensionKey(kind: .episode, id: "512ojhOuo1ktJprKbVcKyQ"), DimensionKey(kind: .track, id: "t2"),
            DimensionKey(kind: .album, id: "6XzE9JxZ6qmtuSZ1bjVTGC"), DimensionKey(kind: .artist, id: "a2"),
        ])
        // A flag on a non-track entry changes nothing.
        let episodeFlag = SnapshotTransform.apply(meta: meta, entries: entries(), previous: [],
                                                  knownDimensions: [false, true], observedAt: obs)
        XCTAssertEqual(episodeFlag.dimensions.map(\.key), all.dimensions.map(\.key))
    }

    func testSecondSnapshotRemovesCarryOldPositionAndNewSnapshot() {
        let first = SnapshotTransform.apply(meta: meta, entries: entries(), previous: [], observedAt: obs)
        var e = entries()
        e.remove(at: 1) // the episode
        e = e.enumerated().map { i, p in
            switch p {
            case .track(let t, let c): return .track(t, EntryContext(position: i, addedAt: c.addedAt, addedBy: c.addedBy))
            case .local(let l, let c): return .local(l, EntryContext(position: i, addedAt: c.addedAt, addedBy: c.addedBy))
            case .episode, .reject: return p
            }
        }
        var meta3 = meta
        meta3.snapshotID = "s3"
        let r = SnapshotTransform.apply(meta: meta3, entries: e, previous: first.members, observedAt: obs)
        XCTAssertTrue(r.added.isEmpty, "positions shifted but nothing was added")
        XCTAssertEqual(r.removed.map(\.itemKey), ["512ojhOuo1ktJprKbVcKyQ"])
        XCTAssertEqual(r.eventRows.map { $0["event"] }, [.string("removed")])
        XCTAssertEqual(r.eventRows[0]["position"], .int(1))
        XCTAssertEqual(r.eventRows[0]["snapshot_id"], .string("s3"))
        XCTAssertEqual(r.eventRows[0]["episode_id"], .string("512ojhOuo1ktJprKbVcKyQ"))
        XCTAssertEqual(r.eventRows[0]["added_by"], .string("bob"))
    }

    func testRenameOnlyChangesPlaylistRowNotItems() {
        let first = SnapshotTransform.apply(meta: meta, entries: entries(), previous: [], observedAt: obs)
        var renamed = meta
        renamed.name = "Mix (renamed)"
        renamed.snapshotID = "s3"
        let r = SnapshotTransform.apply(meta: renamed, entries: entries(), previous: first.members, observedAt: obs)
        XCTAssertTrue(r.eventRows.isEmpty)
        XCTAssertEqual(r.members, first.members)
        let row = RowBuilder.playlistRow(renamed, observedAt: obs)
        XCTAssertEqual(row.values, [.string("p1"), .string("s3"), .string("Mix (renamed)"), .null, .string("alice"),
                                    .string("Alice"), .bool(true), .bool(false), .null, .int(5), .string(obs)])
    }

    func testArtistMergeFullFactWinsAndSimplifiedNeverErases() {
        let full = ArtistFact(id: "a1", name: "One", genres: ["pop"], followers: 10, popularity: 50)
        let r = SnapshotTransform.apply(meta: meta, entries: entries(), previous: [], extraArtists: [full], observedAt: obs)
        guard case .artist(let a)? = r.dimensionsByKey[DimensionKey(kind: .artist, id: "a1")] else { return XCTFail() }
        XCTAssertEqual(a, full)
        XCTAssertEqual(full.merged(with: ArtistFact(id: "a1", name: "One")), full)
        XCTAssertEqual(r.dimensions.filter { $0.key.kind == .artist }.count, 3, "deduplicated")
        XCTAssertEqual(r.dimensionsByKey[DimensionKey(kind: .artist, id: "a1")]?.row(observedAt: obs).values,
                       [.string("a1"), .string("One"), .strings(["pop"]), .int(10), .int(50), .string(obs)])
    }

    func testDimensionRows() {
        let r = SnapshotTransform.apply(meta: meta, entries: entries(), previous: [], observedAt: obs)
        let rows = Dictionary(r.dimensions.map { ($0.key, $0.row(observedAt: obs)) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(rows[DimensionKey(kind: .track, id: "4iV5W9uYEdYUVa79Axb7Rh")]?.values, [
            .string("4iV5W9uYEdYUVa79Axb7Rh"), .string("Never Gonna Give You Up"), .int(213573), .bool(false), .int(1), .int(1),
            .string("GBARL9300135"), .int(77), .string("6XzE9JxZ6qmtuSZ1bjVTGC"), .strings(["a1", "a2"]),
            .string("spotify:track:4iV5W9uYEdYUVa79Axb7Rh"), .string(obs),
        ])
        XCTAssertEqual(rows[DimensionKey(kind: .album, id: "6XzE9JxZ6qmtuSZ1bjVTGC")]?.values, [
            .string("6XzE9JxZ6qmtuSZ1bjVTGC"), .string("Whenever You Need Somebody"), .string("album"), .string("1987-11-12"),
            .string("day"), .int(1987), .int(10), .strings(["a1", "va"]), .string(obs),
        ])
        XCTAssertEqual(rows[DimensionKey(kind: .artist, id: "va")]?.values,
                       [.string("va"), .string("Various"), .null, .null, .null, .string(obs)])
        XCTAssertEqual(rows[DimensionKey(kind: .episode, id: "512ojhOuo1ktJprKbVcKyQ")]?.values, [
            .string("512ojhOuo1ktJprKbVcKyQ"), .string("Episode 42: Things"), .int(1686230), .bool(true),
            .string("38bS44xjbVVZ3No3ByF1dJ"), .string("The Things Show"), .string("2026-01-15"), .string(obs),
        ])
        for row in rows.values { XCTAssertEqual(row.values.count, row.table.columns.count) }
    }

    func testEveryReasonYieldsAValidRejectRow() {
        for reason in RejectReason.all {
            let row = RowBuilder.rejectRow(sourceTable: .playlistItems, reason: reason, playlistID: "p", position: nil,
                                           raw: "null", observedAt: obs)
            XCTAssertEqual(row["reason"], .string(reason))
            XCTAssertEqual(row["position"], .null)
        }
    }
}
