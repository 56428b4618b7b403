@testable import ETLDaemon
import ETLState
import Foundation
import Logging
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

    func testBlockedUntilTellsScansInFlightWhenToComeBack() {
        let g = StorageGuard { false }
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        XCTAssertNil(g.blockedUntil())
        g.observe(.failed(reason: "state: state database /s/state.db: disk full (database or disk is full)"), now: t0)
        XCTAssertEqual(g.blockedUntil(), t0.addingTimeInterval(5))
        _ = g.hold(now: t0.addingTimeInterval(6))  // a failed probe moves the next one on
        XCTAssertEqual(g.blockedUntil(), t0.addingTimeInterval(11))
    }

    /// A scan in flight stops at its next page once the pause check answers, and the poll is
    /// deferred with nothing committed.
    func testScanStopsAtTheNextPageWhenPaused() throws {
        final class Pages: PlaylistPoller.Source, @unchecked Sendable {
            var pagesServed = 0
            func playlistMetadata(_ id: String) throws -> Data {
                Data(#"{"id":"p1","snapshot_id":"s1","name":"n","items":{"total":150}}"#.utf8)
            }
            func itemsPage(_ id: String, offset: Int) throws -> Data { page(offset) }
            func itemsPage(url: String) throws -> Data { page(Int(url.split(separator: "=").last ?? "") ?? 0) }
            func artists(_ ids: [String]) throws -> [String: Data?] { [:] }
            func page(_ offset: Int) -> Data {
                pagesServed += 1
                let next = offset + 50 < 150 ? "\"https://api.spotify.com/v1/playlists/p1/items?offset=\(offset + 50)\"" : "null"
                let entry = #"{"added_at":null,"added_by":null,"is_local":false,"item":null}"#
                return Data("{\"items\":[\(entry)],\"limit\":50,\"next\":\(next),\"offset\":\(offset),\"total\":150}".utf8)
            }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pause-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = try StateStore(path: dir.appendingPathComponent("state.db").path)
        let source = Pages()
        let poller = PlaylistPoller(source: source, state: state, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        let until = Date(timeIntervalSince1970: 1_900_000_000)
        poller.pauseCheck = { (until, StorageGuard.deferReason) }
        guard case .deferred(let u, let reason) = poller.poll("p1") else { return XCTFail("not deferred") }
        XCTAssertEqual(u, until)
        XCTAssertEqual(reason, StorageGuard.deferReason)
        XCTAssertEqual(source.pagesServed, 1, "no page after the pause")
        XCTAssertNil(try state.watermark("p1")?.snapshotID, "nothing committed")
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
