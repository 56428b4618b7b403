import ETLCore
@testable import ETLDaemon
import ETLExtraction
import ETLSink
import ETLState
import ETLTestSupport
import ETLTransform
import Foundation
import Logging
import Synchronization
import XCTest

/// The `polls` heartbeat: which outcome each poll maps to, and the row every finished poll
/// leaves in the outbox (in its commit, or with its watermark update).
final class PollsRowTests: XCTestCase {
    // MARK: outcome mapping

    func testOutcomeOfAPollThatCommittedNothing() {
        let until = Date(timeIntervalSince1970: 1_900_000_000)
        XCTAssertEqual(PlaylistPoller.pollsOutcome(.unchanged), .unchanged)
        XCTAssertEqual(PlaylistPoller.pollsOutcome(.changed(rows: 3, rejects: 0, added: 1, removed: 0)), .changed)
        XCTAssertEqual(PlaylistPoller.pollsOutcome(.unavailable(status: 403, message: "forbidden")), .forbidden)
        XCTAssertEqual(PlaylistPoller.pollsOutcome(.unavailable(status: 404, message: "not found")), .notFound)
        XCTAssertEqual(PlaylistPoller.pollsOutcome(.unavailable(status: 410, message: "gone")), .failed)
        for cause in [DeferralCause.rateLimited, .quotaExceeded, .serviceUnavailable, .gateClosed, .storage] {
            XCTAssertEqual(PlaylistPoller.pollsOutcome(.deferred(until: until, reason: "r", cause: cause)), .deferred)
        }
        let failures: [PollFailure] = [
            .storage(.diskFull, message: "m"), .state(message: "m"), .auth(message: "m"), .authExpired,
            .httpStatus(500, message: "m"), .httpStatus(404, message: "m"), .transport(message: "m", isTimeout: true),
            .decode(message: "m"), .snapshotUnsettled(scans: 3),
        ]
        for f in failures { XCTAssertEqual(PlaylistPoller.pollsOutcome(.failed(f)), .failed, "\(f)") }
        XCTAssertEqual(PollsOutcome.allCases.map(\.rawValue),
                       ["unchanged", "changed", "renamed", "forbidden", "not_found", "failed", "deferred"])
    }

    func testOutcomeOfACommittedSnapshot() {
        func wm(snapshot: String?, name: String?) -> Watermark {
            Watermark(playlistID: "p", snapshotID: snapshot, itemCount: 1, maxAddedAt: nil, name: name, lastPolledAt: nil,
                      lastChangedAt: nil, lastError: nil, lastErrorAt: nil, nextDueAt: nil)
        }
        let outcome = PlaylistPoller.committedOutcome
        XCTAssertEqual(outcome(nil, "A", 0, 0), .changed, "a first snapshot is a change")
        XCTAssertEqual(outcome(wm(snapshot: nil, name: nil), "A", 0, 0), .changed, "only failures recorded before")
        XCTAssertEqual(outcome(wm(snapshot: "s1", name: "A"), "B", 0, 0), .renamed)
        XCTAssertEqual(outcome(wm(snapshot: "s1", name: "A"), "A", 0, 0), .changed, "new snapshot, same name and members")
        XCTAssertEqual(outcome(wm(snapshot: "s1", name: "A"), "B", 1, 0), .changed, "renamed and added")
        XCTAssertEqual(outcome(wm(snapshot: "s1", name: "A"), "B", 0, 2), .changed, "renamed and removed")
        XCTAssertEqual(outcome(wm(snapshot: "s1", name: nil), "B", 0, 0), .changed, "no stored name to compare")
    }

    // MARK: rows written by the poller

    /// A playlist whose name, snapshot and failures the test sets.
    // @unchecked Sendable: a scripted test double, driven from the test's own thread only.
    final class Source: PlaylistPoller.Source, @unchecked Sendable {
        var snapshot = "s1"
        var name = "Mix"
        var entries: [String] = [PlaylistPollerDimsTests.entry(track: "t1", album: "l1", albumArtists: ["a1"], artists: ["a1"])]
        var metadataError: SpotifyError?

        func playlist(_ id: String) throws -> Data {
            if let metadataError { throw metadataError }
            return Data("""
                {"id":"\(id)","snapshot_id":"\(snapshot)","name":"\(name)","items":{"total":\(entries.count)}}
                """.utf8)
        }

        /// No embedded page here: the poller reads `/items` from offset 0, then re-checks.
        func playlistSnapshot(_ id: String) throws -> Data { try playlist(id) }

        func itemsPage(_ id: String, offset: Int) throws -> Data {
            return Data("""
                {"items":[\(entries.joined(separator: ","))],"limit":50,"next":null,"offset":0,"total":\(entries.count)}
                """.utf8)
        }

        func itemsPage(url: String) throws -> Data { throw SpotifyError.malformed(url) }

        func artists(_ ids: [String]) throws -> [String: Data?] {
            var out: [String: Data?] = [:]
            for id in ids {
                out[id] = Data("""
                    {"id":"\(id)","name":"Artist \(id)","genres":[],"followers":{"total":1},"popularity":5,"type":"artist"}
                    """.utf8)
            }
            return out
        }
    }

    /// Moves 250 ms per reading: every poll takes a known, non-zero time.
    final class SteppingClock: Clock {
        let t = Guarded(Date(timeIntervalSince1970: 1_800_000_000))
        func now() -> Date { t.withLock { $0 = $0.addingTimeInterval(0.25); return $0 } }
        func advance(_ s: Double) { t.withLock { $0.addTimeInterval(s) } }
    }

    var state: StateStore!
    var source: Source!
    var clock: SteppingClock!
    var poller: PlaylistPoller!

    override func setUpWithError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pollsrow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        state = try StateStore(path: dir.appendingPathComponent("state.db").path)
        source = Source()
        clock = SteppingClock()
        poller = PlaylistPoller(source: source, state: state, clock: clock,
                                logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    /// Every `polls` row in the outbox so far, by column name (sealed and read back).
    func pollRows() throws -> [[String: Value]] {
        _ = try state.seal(now: clock.now(), maxRows: 1_000_000, maxBytes: 1 << 40, maxAge: 0, force: true) { t, id, _ in
            "\(t.rawValue)/\(id)"
        }
        var out: [[String: Value]] = []
        for b in try state.unuploadedBatches() where b.table == .polls {
            try state.forEachRow(ofBatch: b.batchID) { values in
                out.append(Dictionary(uniqueKeysWithValues: zip(Table.polls.columns, values)))
            }
        }
        return out
    }

    func testEveryFinishedPollLeavesOneRow() throws {
        // First sight: metadata, the page, the settling metadata re-read, one artist look-up.
        guard case .changed = poller.poll("p1") else { return XCTFail("first poll did not commit") }
        clock.advance(60)
        XCTAssertEqual(poller.poll("p1"), .unchanged)
        clock.advance(60)
        source.name = "Mix (renamed)"
        source.snapshot = "s2"
        guard case .changed(_, _, 0, 0) = poller.poll("p1") else { return XCTFail("rename did not commit") }
        clock.advance(60)
        source.snapshot = "s3"
        source.entries.append(PlaylistPollerDimsTests.entry(track: "t2", album: "l1", albumArtists: ["a1"], artists: ["a1"]))
        guard case .changed(_, _, 1, 0) = poller.poll("p1") else { return XCTFail("add did not commit") }
        clock.advance(60)
        source.metadataError = .playlistUnavailable(status: 404, message: "Not found.")
        XCTAssertEqual(poller.poll("p1"), .unavailable(status: 404, message: "Not found."))
        source.metadataError = .playlistUnavailable(status: 403, message: "Forbidden.")
        XCTAssertEqual(poller.poll("p1"), .unavailable(status: 403, message: "Forbidden."))
        source.metadataError = .unexpectedStatus(status: 400, message: "Bad id.")
        guard case .failed = poller.poll("p1") else { return XCTFail("400 did not fail") }
        let until = Date(timeIntervalSince1970: 1_900_000_000)
        source.metadataError = .deferred(until: until, reason: "rate gate shut", cause: .gateClosed)
        XCTAssertTrue(poller.poll("p1").isDeferred)
        source.metadataError = .deferred(until: until, reason: "429", cause: .rateLimited)
        XCTAssertTrue(poller.poll("p1").isDeferred)

        let rows = try pollRows()
        XCTAssertEqual(rows.map { $0["outcome"] }, ["changed", "unchanged", "renamed", "changed", "not_found", "forbidden",
                                                     "failed", "deferred", "deferred"].map(Value.string))
        XCTAssertTrue(rows.allSatisfy { $0["playlist_id"] == .string("p1") })
        XCTAssertEqual(rows.map { $0["snapshot_id"] }, [.string("s1"), .string("s1"), .string("s2"), .string("s3"),
                                                        .null, .null, .null, .null, .null])
        XCTAssertEqual(rows.map { $0["items"] }, [.int(1), .int(1), .int(1), .int(2), .null, .null, .null, .null, .null])
        // metadata + page + re-read (+ artists when some are open); a refusal by the shut gate sent nothing.
        XCTAssertEqual(rows.map { $0["requests"] }, [4, 1, 3, 3, 1, 1, 1, 0, 1].map { Value.int($0) })
        for r in rows {
            guard case .int(let ms) = r["duration_ms"] else { return XCTFail("duration_ms \(String(describing: r["duration_ms"]))") }
            XCTAssertGreaterThanOrEqual(ms, 250)
        }
        // polled_at is the poll's start in contract form, as the snapshot rows' observed_at.
        XCTAssertEqual(rows[0]["polled_at"], .string("2027-01-15T08:00:00Z"))
        guard case .string(let second) = rows[1]["polled_at"] else { return XCTFail() }
        XCTAssertTrue(second.hasSuffix("Z") && second.count == 20, second)
        XCTAssertEqual(try state.watermark("p1")?.snapshotID, "s3", "failures keep the committed snapshot")
    }

    /// A committed snapshot's `polls` row is part of its commit: the same outbox transaction
    /// (one creation time) as its `playlists` row, written after it.
    func testCommittedRowIsInTheSnapshotsTransaction() throws {
        guard case .changed = poller.poll("p1") else { return XCTFail("first poll did not commit") }
        let out = try sqlite3CLI(state.path, "SELECT table_name || ' ' || created_at FROM outbox ORDER BY id")
        let rows = out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(rows.map { $0[0] }, ["playlists", "playlist_items", "tracks", "albums", "artists", "polls"])
        XCTAssertEqual(Set(rows.map { $0[1] }).count, 1, "one commit: \(out)")
    }

    // MARK: golden bytes

    /// The `polls` rows as `RowBuilder` builds them, NDJSON-encoded, are the golden file the
    /// Snowflake DDL tests load (Tests/snowflake/golden/README.md).
    func testPollsRowsMatchGolden() throws {
        let rows = [
            RowBuilder.pollRow(playlistID: "pl1", polledAt: "2026-11-25T09:49:24Z", snapshotID: "snap-p1-3",
                               outcome: .changed, items: 3, requests: 4, durationMs: 812),
            RowBuilder.pollRow(playlistID: "pl1", polledAt: "2026-11-25T10:04:24Z", snapshotID: "snap-p1-3",
                               outcome: .unchanged, items: 3, requests: 1, durationMs: 95),
            RowBuilder.pollRow(playlistID: "37i9dQZF1DXcBWIGoYBM5M", polledAt: "2026-11-25T09:49:24Z", snapshotID: nil,
                               outcome: .notFound, items: nil, requests: 1, durationMs: 143),
            RowBuilder.pollRow(playlistID: "pl3", polledAt: "2026-11-25T09:49:25Z", snapshotID: nil,
                               outcome: .deferred, items: nil, requests: 0, durationMs: 0),
        ]
        var out: [UInt8] = []
        for r in rows { NDJSONEncoder().encode(values: r.values, batchID: 43, table: r.table, into: &out) }
        let golden = try Data(contentsOf: URL(fileURLWithPath: TestSupport.packageRoot + "/Tests/snowflake/golden/polls-000000000043.ndjson"))
        XCTAssertEqual(String(decoding: out, as: UTF8.self), String(decoding: golden, as: UTF8.self))
    }
}
