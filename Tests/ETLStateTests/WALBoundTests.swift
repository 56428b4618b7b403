import ETLCore
import Foundation
import XCTest
@testable import ETLState

/// The `-wal` file does not keep the size a long reader let it grow to: the next commits after
/// the reader is gone truncate it to the limit, and a checkpoint truncates it to nothing.
final class WALBoundTests: XCTestCase {
    private func walSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? Int) ?? 0
    }

    private func bigRows(_ n: Int, _ seed: Int) -> [Row] {
        (0..<n).map { i in
            Row(table: .artists, values: [.string("ar\(seed)-\(i)"), .string(String(repeating: "x", count: 2_000)), .strings([]),
                                          .null, .null, .string("2026-11-25T10:00:00Z")])
        }
    }

    func testWALShrinksToTheLimitAfterAReaderHeldCheckpointsBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.db").path
        let limit = 1 << 20
        let s = try StateStore(path: path, walSizeLimit: limit)
        try s.commitDimensions(seen: [], rows: bigRows(1, 0))

        // A second connection (as `spotifyd-etl status` or a backup would) holds a read
        // transaction: no checkpoint can get past its snapshot, so the WAL grows.
        let reader = try Database(path: path)
        try reader.exec("BEGIN")
        XCTAssertEqual(try reader.scalarInt("SELECT count(*) FROM outbox"), 1)
        for c in 0..<40 { try s.commitDimensions(seen: [], rows: bigRows(100, c + 1)) }
        let grown = walSize(path)
        XCTAssertGreaterThan(grown, 4 * limit, "the reader held the WAL open")

        XCTAssertFalse(try s.checkpointWAL(), "cannot truncate past a reader, and does not wait for it")
        try reader.exec("COMMIT")

        // Many more commits: each time SQLite restarts the log it truncates the file to the limit.
        var largest = 0
        for c in 0..<40 {
            try s.commitDimensions(seen: [], rows: bigRows(10, 100 + c))
            if c >= 2 { largest = max(largest, walSize(path)) }
        }
        XCTAssertLessThanOrEqual(largest, limit + (1 << 20), "WAL stayed near the limit (was \(grown) bytes)")
        XCTAssertLessThan(walSize(path), grown)

        XCTAssertTrue(try s.checkpointWAL())
        XCTAssertEqual(walSize(path), 0, "a checkpoint with no reader truncates the WAL")
    }
}
