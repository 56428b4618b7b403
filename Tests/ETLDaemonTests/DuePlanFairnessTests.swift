import ETLDaemon
import Foundation
import XCTest

/// `spotifyd-etl poll` (all playlists) issued again before a round completes must still reach
/// every playlist: forced entries run oldest-due first, not lowest id first. scripts/chaos
/// found ~80 of 101 playlists starving behind the same low ids under a repeated `poll`.
final class DuePlanFairnessTests: XCTestCase {
    func testRepeatedForceDoesNotStarveHighIDs() {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        var plan = DuePlan(jitter: 0, seed: 1)
        let ids = (0..<20).map { String(format: "id%02d", $0) }
        plan.sync(playlists: ids.map { ($0, 60.0) }, now: t0)
        var ran = Set<String>()
        var now = t0
        // Each round: everything forced again, only 2 polls fit before the next force.
        for _ in 0..<10 {
            _ = plan.force(nil)
            for id in plan.takeDue(now: now, capacity: 2) {
                ran.insert(id)
                plan.finished(id, startedAt: now)
            }
            now = now.addingTimeInterval(1)
        }
        XCTAssertEqual(ran, Set(ids), "starved: \(Set(ids).subtracting(ran).sorted())")
    }

    func testForcedGoFirstAndUnforcedKeepDueOrder() {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        var plan = DuePlan(jitter: 0, seed: 1)
        plan.sync(playlists: [("a", 10), ("b", 10), ("c", 10)], now: t0)
        for id in plan.takeDue(now: t0.addingTimeInterval(1), capacity: 3) { plan.finished(id, startedAt: t0.addingTimeInterval(Double(id.unicodeScalars.first!.value) - 97)) }
        // a due at t0+10, b at t0+11, c at t0+12; force c only.
        XCTAssertEqual(plan.force(["c"]), ["c"])
        XCTAssertEqual(plan.takeDue(now: t0.addingTimeInterval(20), capacity: 2), ["c", "a"])
    }
}
