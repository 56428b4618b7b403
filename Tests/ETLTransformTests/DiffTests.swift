import ETLCore
import XCTest
@testable import ETLTransform

final class DiffTests: XCTestCase {
    func m(_ key: String, _ pos: Int, at: String? = nil, by: String? = nil) -> Member {
        Member(itemKey: key, itemType: .track, trackID: key, episodeID: nil, position: pos, addedAt: at, addedBy: by)
    }

    func testAddsAndRemoves() {
        let old = [m("a", 0), m("b", 1), m("c", 2)]
        let new = [m("x", 0), m("a", 1), m("c", 2), m("y", 3)]
        let d = diff(previous: old, current: new)
        XCTAssertEqual(d.added, [m("x", 0), m("y", 3)])
        XCTAssertEqual(d.removed, [m("b", 1)])
    }

    func testFirstSnapshotIsAllAdds() {
        let new = [m("b", 1), m("a", 0)]
        XCTAssertEqual(diff(previous: [], current: new).added, [m("a", 0), m("b", 1)])
        XCTAssertEqual(diff(previous: new, current: []).removed, [m("a", 0), m("b", 1)])
    }

    func testReorderOnlyGivesNothing() {
        let old = [m("a", 0, at: "t1"), m("b", 1, at: "t2"), m("c", 2, at: "t3"), m("a", 3, at: "t4")]
        let new = [m("c", 0, at: "t3"), m("a", 1, at: "t4"), m("b", 2, at: "t2"), m("a", 3, at: "t1")]
        let d = diff(previous: old, current: new)
        XCTAssertTrue(d.added.isEmpty)
        XCTAssertTrue(d.removed.isEmpty)
    }

    func testDuplicatesWithMultiplicity() {
        let old = [m("a", 0), m("b", 1)]
        let new = [m("a", 0), m("b", 1), m("a", 2), m("a", 3)]
        let d = diff(previous: old, current: new)
        XCTAssertEqual(d.added, [m("a", 2), m("a", 3)])
        XCTAssertTrue(d.removed.isEmpty)
        let back = diff(previous: new, current: old)
        XCTAssertEqual(back.removed, [m("a", 2), m("a", 3)])
        XCTAssertTrue(back.added.isEmpty)
    }

    func testDuplicateRemovalChoosesTheRightOccurrence() {
        // The first "a" (added by alice in January) is removed; the later copy stays and moves up.
        let old = [m("a", 0, at: "2026-01-01T00:00:00Z", by: "alice"), m("b", 1, at: "2026-01-02T00:00:00Z", by: "bob"),
                   m("a", 2, at: "2026-02-01T00:00:00Z", by: "bob")]
        let new = [m("b", 0, at: "2026-01-02T00:00:00Z", by: "bob"), m("a", 1, at: "2026-02-01T00:00:00Z", by: "bob")]
        let d = diff(previous: old, current: new)
        XCTAssertTrue(d.added.isEmpty)
        XCTAssertEqual(d.removed, [old[0]])
    }

    func testRemoveAndReAddIsAnEventPair() {
        let old = [m("a", 0, at: "2026-01-01T00:00:00Z")]
        let new = [m("a", 0, at: "2026-03-01T00:00:00Z")]
        // Same key, one occurrence each: pairwise match, no events (a re-add is not observable
        // as distinct from a timestamp correction when multiplicity is unchanged).
        XCTAssertEqual(diff(previous: old, current: new).added, [])
        // Two old occurrences, one new with a fresh added_at: provenance matches none, so the
        // positional pass pairs it with the first old; the second old is removed.
        let old2 = [m("a", 0, at: "t1"), m("a", 1, at: "t2")]
        let new2 = [m("a", 0, at: "t3")]
        let d = diff(previous: old2, current: new2)
        XCTAssertEqual(d.removed, [m("a", 1, at: "t2")])
        XCTAssertTrue(d.added.isEmpty)
    }

    func testMixedTypesKeyedByItemKey() {
        let ep = Member(itemKey: "e1", itemType: .episode, trackID: nil, episodeID: "e1", position: 0, addedAt: nil, addedBy: nil)
        let local = Member(itemKey: "spotify:local:a::b:1", itemType: .local, trackID: nil, episodeID: nil, position: 1,
                           addedAt: nil, addedBy: nil)
        var moved = local
        moved.position = 0
        let d = diff(previous: [ep, local], current: [moved])
        XCTAssertEqual(d.removed, [ep])
        XCTAssertTrue(d.added.isEmpty)
    }

    func testDeterministicOrderRegardlessOfInputOrder() {
        let old = (0..<20).map { m("k\($0 % 7)", $0) }
        let new = (0..<25).map { m("k\($0 % 9)", $0) }
        let d1 = diff(previous: old, current: new)
        let d2 = diff(previous: old.reversed(), current: new.reversed())
        XCTAssertEqual(d1.added, d2.added)
        XCTAssertEqual(d1.removed, d2.removed)
        XCTAssertEqual(d1.added.map(\.position), d1.added.map(\.position).sorted())
        XCTAssertEqual(d1.removed.map(\.position), d1.removed.map(\.position).sorted())
    }

    /// Property: for random edit sequences over a multiset, per key,
    /// added = max(0, new - old) and removed = max(0, old - new); positions reported exist
    /// in the snapshot they claim; and applying the diff to the old multiset gives the new one.
    func testRandomizedDiffMatchesMultisetArithmetic() {
        var rng = SplitMix64(seed: 7)
        for round in 0..<500 {
            let keys = (0..<(1 + rng.int(6))).map { "k\($0)" }
            var list: [(String, String?)] = (0..<rng.int(30)).map { i in
                (keys[rng.int(keys.count)], rng.int(3) == 0 ? nil : "2026-01-\(10 + i % 18)T00:00:00Z")
            }
            let old = list.enumerated().map { m($0.element.0, $0.offset, at: $0.element.1) }
            for _ in 0..<rng.int(12) {
                switch rng.int(4) {
                case 0: list.insert((keys[rng.int(keys.count)], "2026-02-\(10 + rng.int(18))T00:00:00Z"), at: rng.int(list.count + 1))
                case 1: if !list.isEmpty { list.remove(at: rng.int(list.count)) }
                case 2: if list.count > 1 { let a = rng.int(list.count), b = rng.int(list.count); list.swapAt(a, b) }
                default: if !list.isEmpty { let x = list.remove(at: rng.int(list.count)); list.insert(x, at: rng.int(list.count + 1)) }
                }
            }
            let new = list.enumerated().map { m($0.element.0, $0.offset, at: $0.element.1) }
            let d = diff(previous: old, current: new)
            var oldCount: [String: Int] = [:], newCount: [String: Int] = [:]
            for x in old { oldCount[x.itemKey, default: 0] += 1 }
            for x in new { newCount[x.itemKey, default: 0] += 1 }
            for k in Set(oldCount.keys).union(newCount.keys) {
                let o = oldCount[k] ?? 0, n = newCount[k] ?? 0
                XCTAssertEqual(d.added.filter { $0.itemKey == k }.count, max(0, n - o), "round \(round) key \(k)")
                XCTAssertEqual(d.removed.filter { $0.itemKey == k }.count, max(0, o - n), "round \(round) key \(k)")
            }
            for a in d.added { XCTAssertTrue(new.contains(a), "added member must be a real new occurrence") }
            for r in d.removed { XCTAssertTrue(old.contains(r), "removed member must be a real old occurrence") }
            XCTAssertEqual(Set(d.added.map(\.position)).count, d.added.count)
            XCTAssertEqual(Set(d.removed.map(\.position)).count, d.removed.count)
        }
    }
}
