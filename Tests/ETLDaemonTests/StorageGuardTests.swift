@testable import ETLDaemon
import ETLState
import ETLExtraction
import Foundation
import Logging
import Synchronization
import XCTest

/// After a storage failure no poll starts until a probe (at most every 5 s) succeeds.
final class StorageGuardTests: XCTestCase {
    func testBlocksAfterStorageFailureAndProbesUntilClear() {
        let probeResult = Locked(false)
        let probes = Locked(0)
        let cleared = Locked(0)
        let g = StorageGuard { probes.update { $0 += 1 }; return probeResult.value }
        g.setOnCleared { cleared.update { $0 += 1 } }
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        XCTAssertNil(g.hold(now: t0))
        // A non-storage failure does not block.
        g.observe(.failed(.decode(message: "x")), now: t0)
        g.observe(.failed(.state(message: "unknown batch 3")), now: t0)
        // Decided by type: a message that merely reads like a storage failure does not block.
        g.observe(.failed(.httpStatus(500, message: "disk full")), now: t0)
        XCTAssertNil(g.hold(now: t0))
        g.observe(.failed(PollFailure(StateError.diskFull(path: "/s/state.db", message: "database or disk is full"))), now: t0)
        XCTAssertEqual(g.failure, .diskFull)
        XCTAssertEqual(g.hold(now: t0.addingTimeInterval(1)), t0.addingTimeInterval(5), "no probe before the interval")
        XCTAssertEqual(probes.value, 0)
        XCTAssertNotNil(g.hold(now: t0.addingTimeInterval(6)), "probe fails: still held")
        XCTAssertEqual(probes.value, 1)
        XCTAssertNotNil(g.hold(now: t0.addingTimeInterval(7)))
        XCTAssertEqual(probes.value, 1, "at most one probe per interval")
        probeResult.value = true
        XCTAssertNil(g.hold(now: t0.addingTimeInterval(12)))
        XCTAssertEqual(cleared.value, 1)
        XCTAssertNil(g.hold(now: t0.addingTimeInterval(12.5)))
        XCTAssertEqual(probes.value, 2)
        XCTAssertNil(g.failure)
    }

    func testBlockedUntilTellsScansInFlightWhenToComeBack() {
        let g = StorageGuard { false }
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        XCTAssertNil(g.blockedUntil())
        g.observe(.failed(.storage(.corrupt, message: "state database /s/state.db: corrupt")), now: t0)
        XCTAssertEqual(g.blockedUntil(), t0.addingTimeInterval(5))
        _ = g.hold(now: t0.addingTimeInterval(6))  // a failed probe moves the next one on
        XCTAssertEqual(g.blockedUntil(), t0.addingTimeInterval(11))
    }

    /// A scan in flight stops at its next page once the pause check answers, and the poll is
    /// deferred with nothing committed.
    func testScanStopsAtTheNextPageWhenPaused() throws {
        final class Pages: PlaylistPoller.Source, Sendable {
            let served = Locked(0)
            var pagesServed: Int { served.value }
            func playlist(_ id: String) throws -> Data {
                Data(#"{"id":"p1","snapshot_id":"s1","name":"n","items":{"total":150}}"#.utf8)
            }
            /// No embedded page here: the poller reads `/items` from offset 0, then re-checks.
            func playlistSnapshot(_ id: String) throws -> Data { try playlist(id) }

            func itemsPage(_ id: String, offset: Int) throws -> Data { page(offset) }
            func itemsPage(url: String) throws -> Data { page(Int(url.split(separator: "=").last ?? "") ?? 0) }
            func artists(_ ids: [String]) throws -> [String: Data?] { [:] }
            func page(_ offset: Int) -> Data {
                served.update { $0 += 1 }
                // A full page (50 entries) while items remain, as the page checks require.
                let next = offset + 50 < 150 ? "\"https://api.spotify.com/v1/playlists/p1/items?limit=50&offset=\(offset + 50)\"" : "null"
                let entry = #"{"added_at":null,"added_by":null,"is_local":false,"item":null}"#
                let entries = Array(repeating: entry, count: min(50, 150 - offset)).joined(separator: ",")
                return Data("{\"items\":[\(entries)],\"limit\":50,\"next\":\(next),\"offset\":\(offset),\"total\":150}".utf8)
            }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pause-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = try StateStore(path: dir.appendingPathComponent("state.db").path)
        let source = Pages()
        let poller = PlaylistPoller(source: source, state: state, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        let until = Date(timeIntervalSince1970: 1_900_000_000)
        poller.setPauseCheck { (until, StorageGuard.deferReason) }
        guard case .deferred(let u, let reason, let cause) = poller.poll("p1") else { return XCTFail("not deferred") }
        XCTAssertEqual(cause, .storage)
        XCTAssertEqual(u, until)
        XCTAssertEqual(reason, StorageGuard.deferReason)
        XCTAssertEqual(source.pagesServed, 1, "no page after the pause")
        XCTAssertNil(try state.watermark("p1")?.snapshotID, "nothing committed")
    }

    /// A damaged state file still takes the probe's tiny write (its page is intact), yet no
    /// poll may fetch again while the database is corrupt: the probe's quick check keeps polls
    /// held, so after the poll that found the damage the API sees no request at all.
    func testCorruptDatabaseMakesNoMoreAPIRequests() throws {
        final class Source: PlaylistPoller.Source, Sendable {
            let requests = Locked(0)
            func playlist(_ id: String) throws -> Data {
                requests.update { $0 += 1 }
                return Data(#"{"id":"p1","snapshot_id":"s1","name":"n","items":{"total":1}}"#.utf8)
            }
            /// No embedded page here: the poller reads `/items` from offset 0, then re-checks.
            func playlistSnapshot(_ id: String) throws -> Data { try playlist(id) }

            func itemsPage(_ id: String, offset: Int) throws -> Data { page() }
            func itemsPage(url: String) throws -> Data { page() }
            func artists(_ ids: [String]) throws -> [String: Data?] { [:] }
            func page() -> Data {
                requests.update { $0 += 1 }
                let entry = #"{"added_at":null,"added_by":null,"is_local":false,"item":null}"#
                return Data("{\"items\":[\(entry)],\"limit\":50,\"next\":null,\"offset\":0,\"total\":1}".utf8)
            }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("corrupt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.db").path
        func sqlite(_ sql: String) throws -> String { try sqlite3CLI(path, sql) }
        do { _ = try StateStore(path: path) }  // created, migrated, closed (WAL folded in)
        let root = try XCTUnwrap(Int(try sqlite("SELECT rootpage FROM sqlite_master WHERE name = 'outbox'")))
        let pageSize = try XCTUnwrap(Int(try sqlite("PRAGMA page_size")))
        // Damage the outbox table's root page header (0xFF is no b-tree page type).
        let file = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        try file.seek(toOffset: UInt64((root - 1) * pageSize))
        try file.write(contentsOf: Data(repeating: 0xFF, count: 8))
        try file.close()

        let state = try StateStore(path: path)
        try state.set("still", "writable")  // what the old probe relied on
        let source = Source()
        let poller = PlaylistPoller(source: source, state: state, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        let g = StorageGuard(store: state, directory: dir.path)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        var polls = 0, requestsByFirstPoll = 0
        for step in 0..<6 {  // the scheduler's order: hold, poll, observe; probes every 5 s
            let now = t0.addingTimeInterval(Double(step) * 6)
            guard g.hold(now: now) == nil else { continue }
            polls += 1
            g.observe(poller.poll("p1"), now: now)
            if polls == 1 { requestsByFirstPoll = source.requests.value }
        }
        XCTAssertEqual(polls, 1, "only the poll that found the damage ran")
        XCTAssertEqual(g.failure, .corrupt)
        XCTAssertGreaterThan(requestsByFirstPoll, 0)
        XCTAssertEqual(source.requests.value, requestsByFirstPoll, "no API request after the database was found corrupt")
    }

    /// Every storage kind of `StateError` becomes `PollFailure.storage` and blocks polls; other
    /// state errors do not.
    func testStorageFailuresAreClassifiedByType() {
        let storage: [StateError] = [
            .diskFull(path: "/x", message: "m"), .readOnly(path: "/x", message: "m"), .ioError(path: "/x", message: "m"),
            .cannotOpen(path: "/x", message: "m"), .corrupt(path: "/x", message: "m"),
        ]
        for e in storage {
            let f = PollFailure(e)
            XCTAssertTrue(f.isStorage, "\(e)")
            let g = StorageGuard { false }
            g.observe(.failed(f), now: Date())
            XCTAssertNotNil(g.blockedUntil(), "\(e) blocks polls")
            XCTAssertEqual(g.failure, e.storageFailure)
        }
        let other = PollFailure(StateError.unknownBatch(3))
        XCTAssertFalse(other.isStorage)
        XCTAssertEqual(PollFailure(StateError.readOnly(path: "/x", message: "m")).code, "state_read_only")
    }
}

/// The heap trimmer's decision logic (the trim itself is glibc's malloc_trim).
final class HeapTrimmerTests: XCTestCase {
    func testTrimsOnceAfterEachBurstOnceQuiet() {
        let counter = Locked(0)
        let trimmer = HeapTrimmer(quietSeconds: 2) { counter.update { $0 += 1 } }
        var calls: Int { counter.value }
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

/// Dropping clean, never-written file pages: only those mappings, and the process keeps
/// working (what it uses again faults back in).
final class CleanPageTrimmerTests: XCTestCase {
    func testParseAndChooseOnlyCleanReadOnlyFileMappings() {
        let smaps = """
        55d0a0000000-55d0a0400000 r-xp 00000000 08:01 123 /usr/bin/spotifyd-etl
        Rss:                3000 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        55d0a0400000-55d0a0500000 r--p 00400000 08:01 123 /usr/bin/spotifyd-etl
        Rss:                 400 kB
        Private_Dirty:       120 kB
        Anonymous:           120 kB
        55d0a0500000-55d0a0600000 rw-p 00500000 08:01 123 /usr/bin/spotifyd-etl
        Rss:                  80 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        7f0000000000-7f0000100000 rw-p 00000000 00:00 0
        Rss:                 900 kB
        Private_Dirty:       900 kB
        Anonymous:           900 kB
        7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
        Rss:                   8 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        7f1000000000-7f1000200000 r--p 00000000 08:01 9 /usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30
        Rss:                 600 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        """
        let maps = CleanPageTrimmer.parse(smaps: smaps)
        XCTAssertEqual(maps.count, 6)
        XCTAssertEqual(maps[0].start, 0x55d0a0000000)
        XCTAssertEqual(maps[0].rssKB, 3000)
        XCTAssertEqual(maps.map(\.isDroppable), [true, false, false, false, false, true],
                       "text and clean read-only data only: not RELRO (dirty), writable data, anonymous memory or the vdso")
    }

    func testTrimDropsCleanPagesAndTheProcessKeepsWorking() throws {
        func residentDroppableKB() -> Int {
            let text = CleanPageTrimmer.readProcFile("/proc/self/smaps") ?? ""
            return CleanPageTrimmer.parse(smaps: text).filter(\.isDroppable).reduce(0) { $0 + $1.rssKB }
        }
        let before = residentDroppableKB()
        XCTAssertGreaterThan(before, 0)
        let dropped = CleanPageTrimmer.trim()
        XCTAssertGreaterThan(dropped, 0)
        let after = residentDroppableKB()
        XCTAssertLessThan(after, before, "clean pages were given back (\(before) kB -> \(after) kB)")
        // Code that was dropped runs again: it faults back in.
        let sorted = (0..<10_000).map { ($0 * 7919) % 10_007 }.sorted()
        XCTAssertEqual(sorted.first, 0)
        XCTAssertEqual(try JSONSerialization.jsonObject(with: Data("[1,2]".utf8)) as? [Int], [1, 2])
    }
}
