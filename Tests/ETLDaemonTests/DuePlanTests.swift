@testable import ETLDaemon
import Foundation
import XCTest

/// The scheduler's pure due-time logic, driven with plain dates.
final class DuePlanTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func testNewPlaylistsAreDueSoonAndRespectCapacity() {
        var plan = DuePlan(jitter: 0.1, seed: 1)
        plan.sync(playlists: (0..<10).map { ("p\($0)", 60.0) }, now: t0)
        let first = plan.takeDue(now: t0.addingTimeInterval(6), capacity: 4)
        XCTAssertEqual(first.count, 4, "capacity bounds what starts")
        XCTAssertEqual(plan.takeDue(now: t0.addingTimeInterval(6), capacity: 4).count, 4)
        XCTAssertEqual(plan.takeDue(now: t0.addingTimeInterval(6), capacity: 4).count, 2)
        XCTAssertEqual(plan.takeDue(now: t0.addingTimeInterval(6), capacity: 4), [], "in-flight ones are not started twice")
    }

    func testNextDueIsIntervalWithinJitterFromStart() {
        var plan = DuePlan(jitter: 0.1, seed: 2)
        plan.sync(playlists: [("a", 100)], now: t0)
        for i in 0..<200 {
            let start = t0.addingTimeInterval(Double(i) * 1000)
            XCTAssertEqual(plan.takeDue(now: start.addingTimeInterval(200), capacity: 1), ["a"])
            plan.finished("a", startedAt: start)
            let gap = plan.entry("a")!.nextDue.timeIntervalSince(start)
            XCTAssertGreaterThanOrEqual(gap, 90)
            XCTAssertLessThanOrEqual(gap, 110)
        }
    }

    /// After a suspend or long stall, each overdue playlist runs once, then returns to cadence.
    func testNoStampedeAfterALongStall() {
        var plan = DuePlan(jitter: 0, seed: 3)
        plan.sync(playlists: [("a", 60), ("b", 60)], now: t0)
        _ = plan.takeDue(now: t0.addingTimeInterval(10), capacity: 2)
        plan.finished("a", startedAt: t0); plan.finished("b", startedAt: t0)
        let wake = t0.addingTimeInterval(3600)   // an hour asleep: 60 missed ticks each
        XCTAssertEqual(Set(plan.takeDue(now: wake, capacity: 10)), ["a", "b"])
        plan.finished("a", startedAt: wake); plan.finished("b", startedAt: wake)
        XCTAssertEqual(plan.takeDue(now: wake.addingTimeInterval(1), capacity: 10), [], "missed ticks are not replayed")
        XCTAssertEqual(plan.entry("a")!.nextDue, wake.addingTimeInterval(60))
    }

    func testDeferralParksUntilItsTimeEvenWhenForced() {
        var plan = DuePlan(jitter: 0, seed: 4)
        plan.sync(playlists: [("a", 60)], now: t0)
        _ = plan.takeDue(now: t0.addingTimeInterval(10), capacity: 1)
        let until = t0.addingTimeInterval(7200)
        plan.finished("a", startedAt: t0, retryAt: until)
        XCTAssertEqual(plan.takeDue(now: t0.addingTimeInterval(120), capacity: 1), [], "parked by Retry-After")
        XCTAssertEqual(plan.nextWake(now: t0), until)
        XCTAssertEqual(plan.takeDue(now: until, capacity: 1), ["a"])
    }

    func testForceAndReloadSync() {
        var plan = DuePlan(jitter: 0, seed: 5)
        plan.sync(playlists: [("a", 600), ("b", 600)], now: t0)
        _ = plan.takeDue(now: t0.addingTimeInterval(10), capacity: 2)
        plan.finished("a", startedAt: t0); plan.finished("b", startedAt: t0)
        XCTAssertEqual(plan.force(["b", "zzz"]), ["b"], "unknown ids are not forced")
        XCTAssertEqual(plan.takeDue(now: t0.addingTimeInterval(1), capacity: 5), ["b"])
        plan.sync(playlists: [("a", 30), ("c", 600)], now: t0.addingTimeInterval(2))
        XCTAssertNil(plan.entry("b"), "a removed playlist is dropped")
        XCTAssertNotNil(plan.entry("c"))
        XCTAssertLessThanOrEqual(plan.entry("a")!.nextDue, t0.addingTimeInterval(32), "a shorter interval applies at once")
    }
}

/// The scheduler runtime: a finished poll starts the next due one at once, so throughput is
/// bounded by `concurrency`, not by the 1 s tick.
final class SchedulerTests: XCTestCase {
    func testFinishedPollsStartTheNextWithoutWaitingForATick() {
        let polledBox = Locked<[String]>([])
        let ticksBox = Locked(0)
        let all = expectation(description: "all polled")
        let ids = (0..<60).map { String(format: "p%02d", $0) }
        let total = ids.count
        let s = Scheduler(playlists: ids.map { ($0, 3600.0) }, jitter: 0, concurrency: 2) { id in
            usleep(2_000)
            let n = polledBox.update { $0.append(id); return $0.count }
            if n == total { all.fulfill() }
            return .unchanged
        }
        s.onTick = { ticksBox.update { $0 += 1 } }
        s.start()
        wait(for: [all], timeout: 30)
        let stopped = expectation(description: "stopped")
        s.stop { stopped.fulfill() }
        wait(for: [stopped], timeout: 10)
        let polled = polledBox.value
        let ticks = ticksBox.value
        XCTAssertEqual(Set(polled), Set(ids))
        XCTAssertEqual(polled.count, ids.count, "each playlist polled once per interval")
        // Tick-bound dispatch would need 30 ticks (2 per tick) for 60 playlists.
        XCTAssertLessThan(ticks, 15, "polls waited for ticks (\(ticks) ticks)")
    }
}
