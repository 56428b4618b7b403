import ETLCore
import ETLHTTP
import Foundation
import XCTest
@testable import ETLSink

final class LocalSinkTests: XCTestCase {
    private var dir: URL!
    private var spool: URL!
    private var root: URL!

    override func setUpWithError() throws {
        dir = try EncodingTestKit.makeTempDirectory("local")
        spool = dir.appendingPathComponent("spool")
        root = dir.appendingPathComponent("warehouse")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func sealed(batchID: Int64, rows: Int = 500, name: String = "n") throws -> SealedObject {
        let w = BatchFileWriter(spoolDirectory: spool, naming: ObjectNaming(format: .ndjson, gzip: true))
        return try w.write(key: "artists/dt=2026-11-25/artists-\(String(format: "%012lld", batchID)).ndjson.gz",
                           table: .artists, batchID: batchID, rows: { emit in
            for i in 0..<rows {
                try emit([.string("a\(i)"), .string(name), .strings(["rock"]), .int(Int64(i)), .null, .string("2026-11-25T10:00:00Z")])
            }
        }).object
    }

    private func listing(_ url: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
    }

    func testPutCreatesDirectoriesAndLeavesNoTempFile() throws {
        let object = try sealed(batchID: 1)
        let sink = LocalSink(root: root)
        let receipt = try sink.put(object)
        let final = root.appendingPathComponent(object.key)
        XCTAssertEqual(receipt.location, final.path)
        XCTAssertNil(receipt.etag)
        XCTAssertEqual(try Data(contentsOf: final), try Data(contentsOf: object.fileURL))
        XCTAssertEqual(try listing(final.deletingLastPathComponent()), [final.lastPathComponent])
        XCTAssertEqual(try EncodingTestKit.sha256(final), try EncodingTestKit.sha256(object.fileURL))
        // Readable as an object by an independent reader.
        XCTAssertEqual(try EncodingTestKit.run(["gzip", "-t", final.path]).status, 0)
        XCTAssertEqual(sink.progress.totalBytes, object.byteCount, "every copied byte is reported")
        XCTAssertEqual(sink.progress.activeTransfers, 0)
        // An identical object already in place is not copied again.
        _ = try sink.put(object)
        XCTAssertEqual(sink.progress.totalBytes, object.byteCount)
    }

    /// Same key, same bytes: success without rewriting (the inode stays the same, proving no
    /// new file was renamed in).
    func testRepeatedPutWithIdenticalBytesIsIdempotent() throws {
        let object = try sealed(batchID: 2)
        let sink = LocalSink(root: root)
        let first = try sink.put(object)
        let inode1 = try FileManager.default.attributesOfItem(atPath: first.location)[.systemFileNumber] as? UInt64
        let second = try sink.put(object)
        let inode2 = try FileManager.default.attributesOfItem(atPath: second.location)[.systemFileNumber] as? UInt64
        XCTAssertEqual(first, second)
        XCTAssertNotNil(inode1)
        XCTAssertEqual(inode1, inode2)
        XCTAssertEqual(try listing(URL(fileURLWithPath: first.location).deletingLastPathComponent()).count, 1)
    }

    /// Same key, different bytes (a batch re-encoded after a crash): replaced atomically.
    func testSameKeyWithDifferentBytesIsReplaced() throws {
        let sink = LocalSink(root: root)
        let old = try sealed(batchID: 3, name: "old")
        let receipt = try sink.put(old)
        let oldBytes = try Data(contentsOf: URL(fileURLWithPath: receipt.location))
        let new = try sealed(batchID: 3, name: "new and longer")
        XCTAssertEqual(new.key, old.key)
        XCTAssertEqual(try sink.put(new), receipt)
        let now = try Data(contentsOf: URL(fileURLWithPath: receipt.location))
        XCTAssertNotEqual(now, oldBytes)
        XCTAssertEqual(now, try Data(contentsOf: new.fileURL))
        XCTAssertEqual(try listing(URL(fileURLWithPath: receipt.location).deletingLastPathComponent()).count, 1)
    }

    /// A temp file left by a crashed process (dead pid) is cleaned up; one that looks like it
    /// belongs to a live process is left alone.
    func testStaleTempFileFromDeadProcessIsRemoved() throws {
        let object = try sealed(batchID: 4)
        let final = root.appendingPathComponent(object.key)
        try FileManager.default.createDirectory(at: final.deletingLastPathComponent(), withIntermediateDirectories: true)
        let dead = final.path + ".tmp-2147483000" // beyond pid_max: no such process
        let live = final.path + ".tmp-1"           // init is always alive
        try Data("partial".utf8).write(to: URL(fileURLWithPath: dead))
        try Data("partial".utf8).write(to: URL(fileURLWithPath: live))
        _ = try LocalSink(root: root).put(object)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live))
        XCTAssertEqual(try Data(contentsOf: final), try Data(contentsOf: object.fileURL))
    }

    func testUnsafeKeysAreRejected() throws {
        let object = try sealed(batchID: 5)
        for key in ["../escape", "/abs/path", "a//b", "a/./b", "", "a/../../b", "trailing/"] {
            var bad = object
            bad.key = key
            XCTAssertThrowsError(try LocalSink(root: root).put(bad), key) { error in
                let e = error as? SinkError
                XCTAssertEqual(e?.code, "InvalidKey", key)
                XCTAssertEqual(e?.kind, .needsOperator)
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("escape").path))
    }

    func testMissingOrChangedSpoolFileIsReported() throws {
        var object = try sealed(batchID: 6)
        object.byteCount += 1
        XCTAssertThrowsError(try LocalSink(root: root).put(object)) {
            XCTAssertEqual(($0 as? SinkError)?.code, "SpoolSizeMismatch")
        }
        object.fileURL = spool.appendingPathComponent("gone")
        XCTAssertThrowsError(try LocalSink(root: root).put(object)) {
            XCTAssertEqual(($0 as? SinkError)?.code, "SpoolMissing")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent(object.key).path))
    }

    /// Errno classification: full disk is transient, permission problems need an operator.
    func testErrnoClassification() {
        let full = FileSystemError(operation: "write", path: "/data/x.tmp-1", errno: ENOSPC).sinkError
        XCTAssertEqual(full.kind, .transient)
        XCTAssertEqual(full.code, "ENOSPC")
        XCTAssertTrue(full.message.contains("disk full") && full.message.contains("/data/x.tmp-1"), full.message)
        XCTAssertEqual(FileSystemError(operation: "write", path: "p", errno: EDQUOT).sinkError.kind, .transient)
        for e in [EACCES, EPERM, EROFS] {
            XCTAssertEqual(FileSystemError(operation: "open", path: "p", errno: e).sinkError.kind, .needsOperator)
        }
        XCTAssertEqual(FileSystemError(operation: "open", path: "p", errno: EACCES).sinkError.code, "EACCES")
        XCTAssertEqual(FileSystemError(operation: "open", path: "p", errno: EROFS).sinkError.code, "EROFS")
        XCTAssertEqual(FileSystemError(operation: "write", path: "p", errno: EIO).sinkError.kind, .transient)
    }

    /// The copy loop against a real ENOSPC from the kernel (/dev/full), independent of mounts.
    func testCopyToFullDeviceMapsToDiskFull() throws {
        let object = try sealed(batchID: 7, rows: 3000)
        let input = open(object.fileURL.path, O_RDONLY)
        let output = open("/dev/full", O_WRONLY)
        XCTAssertGreaterThanOrEqual(input, 0)
        XCTAssertGreaterThanOrEqual(output, 0)
        defer { close(input); close(output) }
        XCTAssertThrowsError(try LocalSink.copy(from: input, sourcePath: object.fileURL.path, to: output, destinationPath: "/dev/full")) {
            let e = ($0 as? FileSystemError)?.sinkError
            XCTAssertEqual(e?.code, "ENOSPC")
            XCTAssertEqual(e?.kind, .transient)
            XCTAssertTrue(e?.message.contains("disk full") ?? false)
        }
    }

    /// `mkdir -p` as the daemon uses it for `state.path`/`sink.path` (Components.makeDirectory).
    func testMakeDirectoriesCreatesNestedAndNamesWhatIsInTheWay() throws {
        let base = NSTemporaryDirectory() + "/mkdirs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileIO.makeDirectories(base + "/x/y/z")
        var isDir: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: base + "/x/y/z", isDirectory: &isDir) && isDir.boolValue)
        try FileIO.makeDirectories(base + "/x/y/z")  // already there: fine
        _ = FileManager.default.createFile(atPath: base + "/file", contents: Data())
        for path in [base + "/file/sub", base + "/file"] {
            XCTAssertThrowsError(try FileIO.makeDirectories(path)) { error in
                XCTAssertEqual((error as? FileSystemError)?.errno, ENOTDIR, "\(error)")
                XCTAssertTrue("\(error)".contains("Not a directory"), "\(error)")
            }
        }
    }
}
