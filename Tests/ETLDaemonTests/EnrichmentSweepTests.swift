import ETLCore
import ETLDaemon
import ETLState
import Foundation
import Logging
import XCTest

/// The sweep is the retry path for incomplete artists (the poller leaves those of tracks it
/// already knows to it), so it must reach every incomplete id, also behind ids that never
/// complete.
final class EnrichmentSweepTests: XCTestCase {
    func testSweepMovesPastIdsThatNeverCompleteAndWrapsAround() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let state = try StateStore(path: dir.appendingPathComponent("state.db").path)
        let source = PlaylistPollerDimsTests.ScriptedSource()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let sweep = EnrichmentSweep(source: source, state: state, logger: logger, limit: 3)

        // a0…a2 are unknown to the API: they stay incomplete whatever the sweep does.
        try state.seedSeen(kind: .artist, ids: (0..<5).map { "a\($0)" }, complete: false)
        source.unknownArtists = ["a0", "a1", "a2"]
        XCTAssertEqual(sweep.run(), 0, "a0…a2: nothing to complete")
        XCTAssertEqual(sweep.run(), 2, "then a3, a4 — not a0…a2 again")
        XCTAssertEqual(try state.incompleteIDs(kind: .artist, limit: 10), ["a0", "a1", "a2"])

        // From the end it starts over: a0 is known now.
        source.unknownArtists = ["a1", "a2"]
        source.artistsAsked = []
        XCTAssertEqual(sweep.run(), 1)
        XCTAssertEqual(source.artistsAsked, ["a0", "a1", "a2"])
        XCTAssertEqual(try state.seenStates(kind: .artist, ids: ["a0", "a3", "a4"]), ["a0": .complete, "a3": .complete, "a4": .complete])
    }
}
