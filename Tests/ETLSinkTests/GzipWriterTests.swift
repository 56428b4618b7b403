import ETLCore
import Foundation
import XCTest
@testable import ETLSink

final class GzipWriterTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws { dir = try EncodingTestKit.makeTempDirectory("gzip") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Compresses `chunks` into a file through the streaming API.
    private func gzipFile(_ name: String, _ chunks: [[UInt8]]) throws -> URL {
        let url = dir.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        let writer = try GzipWriter(fileDescriptor: handle.fileDescriptor, path: url.path)
        for c in chunks { try writer.write(c) }
        try writer.finish()
        XCTAssertEqual(writer.bytesIn, chunks.reduce(0) { $0 + $1.count })
        XCTAssertEqual(writer.bytesOut, Int(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! UInt64))
        return url
    }

    /// ~3 MiB of mixed, partly incompressible data, so the output spans many 64 KiB buffers.
    private func sampleChunks() -> [[UInt8]] {
        var rng = SplitMix64(seed: 1)
        var chunks: [[UInt8]] = []
        for i in 0..<48 {
            var c = Array("chunk \(i) 東京 🎧 \"quoted\"\n".utf8)
            for _ in 0..<(32 * 1024) { c.append(UInt8(truncatingIfNeeded: rng.next())) }
            c.append(contentsOf: [UInt8](repeating: UInt8(ascii: "a"), count: 32 * 1024))
            chunks.append(c)
        }
        return chunks
    }

    func testGzipCommandLineReadsOutput() throws {
        let chunks = sampleChunks()
        let url = try gzipFile("sample.gz", chunks)
        let r = try EncodingTestKit.run(["gzip", "-dc", url.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, Data(chunks.joined()))
        let t = try EncodingTestKit.run(["gzip", "-t", url.path])
        XCTAssertEqual(t.status, 0, "gzip -t: \(t.stderr)")
    }

    func testPythonGzipReadsOutput() throws {
        let chunks = sampleChunks()
        let url = try gzipFile("sample.gz", chunks)
        let out = try EncodingTestKit.python("import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())", [url.path])
        XCTAssertEqual(out, Data(chunks.joined()))
    }

    /// The header is pinned: magic, deflate, no flags (no name/comment/extra), mtime 0,
    /// XFL 4 (zlib's mark for its fastest level, the default 1), OS 255.
    func testHeaderIsDeterministic() throws {
        let url = try gzipFile("h.gz", [Array("hello\n".utf8)])
        let bytes = [UInt8](try Data(contentsOf: url))
        XCTAssertEqual(Array(bytes[0..<10]), [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x04, 0xFF])
        XCTAssertEqual(Array(bytes[4...7]), [0, 0, 0, 0], "mtime must be zero")
        XCTAssertEqual(GzipWriter.defaultLevel, 1)
    }

    func testSameInputGivesIdenticalBytes() throws {
        let chunks = sampleChunks()
        let a = try gzipFile("a.gz", chunks)
        Thread.sleep(forTimeInterval: 1.1) // a different wall-clock second must not leak into the header
        let b = try gzipFile("b.gz", chunks)
        XCTAssertEqual(try EncodingTestKit.sha256(a), try EncodingTestKit.sha256(b))
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b))
    }

    /// zlib's output with Z_NO_FLUSH does not depend on how the input is split across write
    /// calls, so determinism does not hinge on the batch writer's flush threshold.
    func testOutputIsIndependentOfInputChunking() throws {
        let chunks = sampleChunks()
        let whole = try gzipFile("whole.gz", [Array(chunks.joined())])
        var rng = SplitMix64(seed: 99)
        var pieces: [[UInt8]] = []
        var all = Array(chunks.joined())[...]
        while !all.isEmpty {
            let n = min(all.count, Int(rng.next() % 9000) + 1)
            pieces.append(Array(all.prefix(n)))
            all = all.dropFirst(n)
        }
        let split = try gzipFile("split.gz", pieces)
        XCTAssertEqual(try Data(contentsOf: whole), try Data(contentsOf: split))
    }

    func testEmptyInputIsAValidEmptyMember() throws {
        let url = try gzipFile("empty.gz", [])
        XCTAssertEqual(try gunzip(Data(contentsOf: url)), Data())
        let r = try EncodingTestKit.run(["gzip", "-dc", url.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.count, 0)
    }

    func testGunzipRoundTripAndConcatenatedMembers() throws {
        let one = try Data(contentsOf: try gzipFile("1.gz", [Array("first member\n".utf8)]))
        let two = try Data(contentsOf: try gzipFile("2.gz", sampleChunks()))
        XCTAssertEqual(try gunzip(one), Data("first member\n".utf8))
        XCTAssertEqual(try gunzip(one + two), Data("first member\n".utf8) + Data(sampleChunks().joined()))
        // The same concatenation through an independent reader.
        let cat = dir.appendingPathComponent("cat.gz")
        try (one + two).write(to: cat)
        XCTAssertEqual(try EncodingTestKit.run(["gzip", "-dc", cat.path]).stdout, try gunzip(one + two))
    }

    func testGunzipRejectsTruncatedCorruptAndForeignInput() throws {
        let good = try Data(contentsOf: try gzipFile("g.gz", sampleChunks()))
        XCTAssertThrowsError(try gunzip(good.prefix(good.count - 4))) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
        var corrupt = good
        corrupt[good.count / 2] ^= 0xFF
        XCTAssertThrowsError(try gunzip(corrupt))
        XCTAssertThrowsError(try gunzip(Data("not gzip at all".utf8)))
        XCTAssertThrowsError(try gunzip(good + Data("trailing junk".utf8)))
    }

    /// Writing to a full device surfaces ENOSPC with the path instead of crashing.
    func testWriteToFullDeviceThrowsENOSPC() throws {
        let fd = open("/dev/full", O_WRONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let writer = try GzipWriter(fileDescriptor: fd, path: "/dev/full")
        XCTAssertThrowsError(try {
            for c in sampleChunks() { try writer.write(c) }
            try writer.finish()
        }()) { error in
            let fsError = error as? FileSystemError
            XCTAssertEqual(fsError?.code, "ENOSPC")
            XCTAssertEqual(fsError?.path, "/dev/full")
            XCTAssertTrue(fsError?.description.contains("disk full") ?? false)
        }
        XCTAssertThrowsError(try writer.write([1, 2, 3]), "a failed writer refuses more input")
    }
}

