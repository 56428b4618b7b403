@testable import ETLDaemon
import Foundation
import XCTest

/// After a storage failure no poll starts until a probe (at most every 5 s) succeeds.
final class StorageGuardTests: XCTestCase {
    func testBlocksAfterStorageFailureAndProbesUntilClear() {
        var probeResult = false
        var probes = 0
        var cleared = 0
        let g = StorageGuard { probes += 1; return probeResult }
        g.onCleared = { cleared += 1 }
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        XCTAssertNil(g.hold(now: t0))
        // A non-storage failure does not block.
        g.observe(.failed(reason: "malformed API response: x"), now: t0)
        g.observe(.failed(reason: "state: unknown batch 3"), now: t0)
        XCTAssertNil(g.hold(now: t0))
        g.observe(.failed(reason: "state: state database /s/state.db: disk full (database or disk is full)"), now: t0)
        XCTAssertEqual(g.hold(now: t0.addingTimeInterval(1)), t0.addingTimeInterval(5), "no probe before the interval")
        XCTAssertEqual(probes, 0)
        XCTAssertNotNil(g.hold(now: t0.addingTimeInterval(6)), "probe fails: still held")
        XCTAssertEqual(probes, 1)
        XCTAssertNotNil(g.hold(now: t0.addingTimeInterval(7)))
        XCTAssertEqual(probes, 1, "at most one probe per interval")
        probeResult = true
        XCTAssertNil(g.hold(now: t0.addingTimeInterval(12)))
        XCTAssertEqual(cleared, 1)
        XCTAssertNil(g.hold(now: t0.addingTimeInterval(12.5)))
        XCTAssertEqual(probes, 2)
    }

    func testReadOnlyCountsAsStorageFailure() {
        XCTAssertTrue(StorageGuard.isStorageFailure("state: state database /x: read-only, cannot write (attempt to write a readonly database)"))
        XCTAssertFalse(StorageGuard.isStorageFailure("HTTP 500: disk full"))
    }
}

/// The heap trimmer's decision logic (the trim itself is glibc's malloc_trim).
final class HeapTrimmerTests: XCTestCase {
    func testTrimsOnceAfterEachBurstOnceQuiet() {
        var calls = 0
        let trimmer = HeapTrimmer(quietSeconds: 2) { calls += 1 }
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        trimmer.tick(busy: false, now: t0)
        XCTAssertEqual(calls, 0, "nothing was allocated for a burst yet: no trim at start")
        trimmer.tick(busy: true, now: t0 + 1)
        trimmer.tick(busy: false, now: t0 + 2)
        XCTAssertEqual(calls, 0, "quiet for 1 s only")
        trimmer.tick(busy: false, now: t0 + 3)
        XCTAssertEqual(calls, 1)
        trimmer.tick(busy: false, now: t0 + 10)
        XCTAssertEqual(calls, 1, "once per burst, not every idle tick")
        trimmer.tick(busy: true, now: t0 + 11)
        trimmer.tick(busy: true, now: t0 + 12)
        trimmer.tick(busy: false, now: t0 + 14)
        XCTAssertEqual(calls, 2)
        XCTAssertEqual(trimmer.trims, 2)
    }

    func testRealTrimIsSafeToCall() {
        HeapTrimmer.glibcTrim()
        MallocTuning.singleArena()
        let big = [UInt8](repeating: 1, count: 8 << 20)
        XCTAssertEqual(big.count, 8 << 20)
        HeapTrimmer.glibcTrim()
    }
}
