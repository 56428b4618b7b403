import ETLCore
import Foundation
import XCTest
@testable import ETLSink

/// LocalSink on real, tiny or read-only file systems: a 64 KiB tmpfs mounted by the test
/// (needs root / CAP_SYS_ADMIN, which this project's test sandbox has).
///
/// If mounting is impossible the tests do not skip: they fall back to a real kernel ENOSPC from
/// /dev/full (through the sink's copy loop) and say so loudly on stdout.
final class LocalSinkFullDiskTests: XCTestCase {
    private var dir: URL!
    private var mountPoint: URL!
    private var mounted = false

    override func setUpWithError() throws {
        dir = try EncodingTestKit.makeTempDirectory("fulldisk")
        mountPoint = dir.appendingPathComponent("mnt", isDirectory: true)
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if mounted {
            let r = try EncodingTestKit.run(["umount", mountPoint.path])
            XCTAssertEqual(r.status, 0, "umount failed: \(r.stderr)")
        }
        try? FileManager.default.removeItem(at: dir)
    }

    /// Mounts a tmpfs of `size` at mountPoint; returns the failure text if it could not.
    private func mountTmpfs(options: String) throws -> String? {
        let r = try EncodingTestKit.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", mountPoint.path])
        if r.status == 0 { mounted = true; return nil }
        return "mount -t tmpfs failed (status \(r.status)): \(r.stderr)"
    }

    /// Incompressible object bigger than the file system.
    private func bigObject(bytes: Int) throws -> SealedObject {
        let spool = dir.appendingPathComponent("spool")
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 7)
        var data = Data(capacity: bytes)
        while data.count < bytes { var v = rng.next(); withUnsafeBytes(of: &v) { data.append(contentsOf: $0) } }
        let url = spool.appendingPathComponent("big.bin")
        try data.write(to: url)
        return SealedObject(key: "artists/dt=2026-11-25/artists-000000000099.ndjson.gz", fileURL: url,
                            byteCount: data.count, contentType: "application/x-ndjson", contentEncoding: "gzip")
    }

    private func fallBackToDevFull(_ reason: String) throws {
        print("NOTE LocalSinkFullDiskTests: \(reason) — falling back to /dev/full for a real ENOSPC")
        let object = try bigObject(bytes: 256 * 1024)
        let input = open(object.fileURL.path, O_RDONLY), output = open("/dev/full", O_WRONLY)
        XCTAssertGreaterThanOrEqual(input, 0)
        XCTAssertGreaterThanOrEqual(output, 0, "neither tmpfs nor /dev/full is available: cannot test a full disk")
        defer { close(input); close(output) }
        XCTAssertThrowsError(try LocalSink.copy(from: input, sourcePath: object.fileURL.path, to: output, destinationPath: "/dev/full")) {
            XCTAssertEqual(($0 as? FileSystemError)?.sinkError.code, "ENOSPC")
        }
    }

    func testFullDiskIsTransientENOSPCAndLeavesNoPartialFile() throws {
        if let failure = try mountTmpfs(options: "size=64k") { return try fallBackToDevFull(failure) }
        let root = mountPoint!
        let object = try bigObject(bytes: 256 * 1024)
        let sink = LocalSink(root: root)
        let final = root.appendingPathComponent(object.key)
        XCTAssertThrowsError(try sink.put(object)) { error in
            guard let e = error as? SinkError else { return XCTFail("not a SinkError: \(error)") }
            XCTAssertEqual(e.kind, .transient)
            XCTAssertEqual(e.code, "ENOSPC")
            XCTAssertTrue(e.message.contains("disk full"), e.message)
            XCTAssertTrue(e.message.contains(final.deletingLastPathComponent().path), "names the path: \(e.message)")
            XCTAssertTrue(e.description.hasPrefix("ENOSPC: disk full"), e.description)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: final.path), "no partial final file")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: final.deletingLastPathComponent().path), [],
                       "temp file removed after ENOSPC")

        // Once space is available (a smaller object fits), the sink works again on the same root.
        let small = try bigObject(bytes: 8 * 1024)
        let receipt = try sink.put(small)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: receipt.location)), try Data(contentsOf: small.fileURL))
    }

    func testReadOnlyFileSystemNeedsOperator() throws {
        if let failure = try mountTmpfs(options: "size=64k,ro") { return try fallBackToDevFull(failure) }
        let object = try bigObject(bytes: 1024)
        XCTAssertThrowsError(try LocalSink(root: mountPoint).put(object)) { error in
            let e = error as? SinkError
            XCTAssertEqual(e?.kind, .needsOperator)
            XCTAssertEqual(e?.code, "EROFS")
            XCTAssertTrue(e?.message.contains(self.mountPoint.path) ?? false, "\(String(describing: e))")
        }
    }
}
