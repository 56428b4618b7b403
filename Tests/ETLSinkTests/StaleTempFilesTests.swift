import ETLCore
import Foundation
import XCTest
@testable import ETLSink

/// At start, `<final>.tmp-<pid>` files of dead processes (and of this pid) go; everything
/// else stays, and no symbolic link is followed or removed.
final class StaleTempFilesTests: XCTestCase {
    private func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    private func touch(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: url)
    }

    private func exists(_ url: URL) -> Bool {
        var st = stat()
        return lstat(url.path, &st) == 0
    }

    func testNamePattern() {
        XCTAssertEqual(StaleTempFiles.pid(inName: "a.ndjson.gz.tmp-123"), 123)
        XCTAssertNil(StaleTempFiles.pid(inName: ".tmp-123"))
        XCTAssertNil(StaleTempFiles.pid(inName: "a.tmp-"))
        XCTAssertNil(StaleTempFiles.pid(inName: "a.tmp-12x"))
        XCTAssertNil(StaleTempFiles.pid(inName: "a.tmp"))
        XCTAssertNil(StaleTempFiles.pid(inName: "a-123"))
        XCTAssertNil(StaleTempFiles.pid(inName: "a.tmp-99999999999"))
    }

    func testRemovesOnlyStaleTempFilesAndNeverFollowsLinks() throws {
        let root = try tempDir(), outside = try tempDir()
        let dead: Int32 = 2_147_483_000  // above any pid_max: no such process
        let own = getpid()
        let stale = [root.appendingPathComponent("spool_a.ndjson.gz.tmp-\(dead)"),
                     root.appendingPathComponent("tracks/dt=2026-12-01/tracks-000000000007.ndjson.gz.tmp-\(dead)"),
                     root.appendingPathComponent("b.rows.tmp-\(own)")]
        let live = root.appendingPathComponent("c.tmp-1")  // pid 1 is alive
        let others = [root.appendingPathComponent("tracks/dt=2026-12-01/tracks-000000000007.ndjson.gz"),
                      root.appendingPathComponent("notes.tmp"), root.appendingPathComponent("d.tmp-abc"), live]
        for u in stale + others { try touch(u) }
        // A link under a matching name, and a linked directory holding a matching file.
        let target = outside.appendingPathComponent("precious.tmp-\(dead)")
        try touch(target)
        let link = root.appendingPathComponent("e.tmp-\(dead)")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("linked"), withDestinationURL: outside)

        XCTAssertEqual(StaleTempFiles.sweep(root.path), stale.count)
        for u in stale { XCTAssertFalse(exists(u), u.lastPathComponent) }
        for u in others { XCTAssertTrue(exists(u), u.lastPathComponent) }
        XCTAssertTrue(exists(link), "a link is not ours to remove")
        XCTAssertTrue(exists(target), "nothing reached through a link")
        XCTAssertEqual(StaleTempFiles.sweep(root.path), 0, "idempotent")
        XCTAssertEqual(StaleTempFiles.sweep(root.appendingPathComponent("missing").path), 0)
        XCTAssertEqual(StaleTempFiles.sweep(link.path), 0, "a link given as the directory is not opened")
    }
}
