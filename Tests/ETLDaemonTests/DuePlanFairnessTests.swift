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

/// The due queue (heaps with lazy keys) against the rule it implements, written as a scan and
/// sort over `entries`, through random syncs, forces, starts, finishes and parks.
final class DuePlanModelTests: XCTestCase {
    static func expected(_ plan: DuePlan, now: Date, capacity: Int) -> [String] {
        let free = plan.entries.values.filter { !$0.inFlight }
        let forced = free.filter(\.forced).sorted { ($0.nextDue, $0.id) < ($1.nextDue, $1.id) }.map(\.id)
        let ready = free.filter { !$0.forced && max($0.nextDue, $0.parkedUntil ?? .distantPast) <= now }
            .sorted {
                (max($0.nextDue, $0.parkedUntil ?? .distantPast), $0.nextDue, $0.id)
                    < (max($1.nextDue, $1.parkedUntil ?? .distantPast), $1.nextDue, $1.id)
            }.map(\.id)
        return Array((forced + ready).prefix(capacity))
    }

    func testMatchesTheScanAndSortRuleUnderRandomOperations() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<20 {
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            var plan = DuePlan(jitter: round % 2 == 0 ? 0 : 0.2, seed: UInt64(round))
            var universe = (0..<60).map { "p\($0)" }
            plan.sync(playlists: universe.map { ($0, 30.0) }, now: t0)
            var now = t0
            var inFlight: [String] = []
            for step in 0..<600 {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0:
                    // Reload: drop some, add some, change some intervals.
                    universe.shuffle(using: &rng)
                    universe = Array(universe.prefix(Int.random(in: 40...60, using: &rng))) + ["n\(round)-\(step)"]
                    plan.sync(playlists: universe.map { ($0, Double(Int.random(in: 1...4, using: &rng)) * 15) }, now: now)
                case 1:
                    _ = plan.force(Bool.random(using: &rng) ? nil : Array(universe.shuffled(using: &rng).prefix(5)))
                case 2, 3, 4:
                    let capacity = Int.random(in: 0...6, using: &rng)
                    let want = Self.expected(plan, now: now, capacity: capacity)
                    let got = plan.takeDue(now: now, capacity: capacity)
                    XCTAssertEqual(got, want, "round \(round) step \(step)")
                    if got != want { return }
                    for id in got { XCTAssertEqual(plan.entry(id)?.inFlight, true) }
                    inFlight += got
                case 5, 6, 7:
                    guard !inFlight.isEmpty else { break }
                    let id = inFlight.remove(at: Int.random(in: 0..<inFlight.count, using: &rng))
                    let park: Date? = Int.random(in: 0..<4, using: &rng) == 0 ? now.addingTimeInterval(Double.random(in: 1...90, using: &rng)) : nil
                    plan.finished(id, startedAt: now.addingTimeInterval(-Double.random(in: 0...5, using: &rng)), retryAt: park)
                default:
                    now = now.addingTimeInterval(Double.random(in: 0...20, using: &rng))
                }
            }
        }
    }
}
