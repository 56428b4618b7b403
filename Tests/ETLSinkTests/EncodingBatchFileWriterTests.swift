import ETLCore
import Foundation
import XCTest
@testable import ETLSink

final class EncodingBatchFileWriterTests: XCTestCase {
    private var dir: URL!
    private let sealedAt = Date(timeIntervalSince1970: 1_764_064_800) // 2025-11-25T10:00:00Z

    override func setUpWithError() throws { dir = try EncodingTestKit.makeTempDirectory("batch") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Enough rows to cross many 64 KiB flush boundaries.
    private func manyRows() -> [[Value]] {
        var rows: [[Value]] = []
        let tricky = EncodingTestKit.trickyArtistRows()
        for i in 0..<3000 {
            var r = tricky[i % tricky.count]
            r[0] = .string("artist-\(i)")
            rows.append(r)
        }
        return rows
    }

    private func spoolFiles(_ url: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
    }

    func testSameBatchTwiceIsByteIdenticalForEveryFormat() throws {
        let rows = manyRows()
        for format in [ObjectNaming.Format.ndjson, .csv] {
            for gzip in [true, false] {
                let naming = ObjectNaming(format: format, gzip: gzip)
                let w1 = BatchFileWriter(spoolDirectory: dir.appendingPathComponent("one"), naming: naming)
                let w2 = BatchFileWriter(spoolDirectory: dir.appendingPathComponent("two"), naming: naming)
                let a = try w1.write(table: .artists, batchID: 12, sealedAt: sealedAt, rows: EncodingTestKit.rowSource(rows))
                let b = try w2.write(table: .artists, batchID: 12, sealedAt: sealedAt, rows: EncodingTestKit.rowSource(rows))
                // And once more into the same spool (a retry after a crash overwrites in place).
                let c = try w1.write(table: .artists, batchID: 12, sealedAt: sealedAt, rows: EncodingTestKit.rowSource(rows))
                XCTAssertEqual(a.object.key, b.object.key)
                XCTAssertEqual(try EncodingTestKit.sha256(a.object.fileURL), try EncodingTestKit.sha256(b.object.fileURL), "\(naming)")
                XCTAssertEqual(try Data(contentsOf: a.object.fileURL), try Data(contentsOf: b.object.fileURL))
                XCTAssertEqual(c, a)
                XCTAssertEqual(a.rowCount, rows.count)
            }
        }
    }

    func testSealedObjectDescribesTheFile() throws {
        let naming = ObjectNaming(format: .ndjson, gzip: true)
        let w = BatchFileWriter(spoolDirectory: dir, naming: naming)
        let rows = manyRows()
        let r = try w.write(table: .artists, batchID: 42, sealedAt: sealedAt, rows: EncodingTestKit.rowSource(rows))
        XCTAssertEqual(r.object.key, "artists/dt=2025-11-25/artists-000000000042.ndjson.gz")
        XCTAssertEqual(r.object.fileURL.lastPathComponent, "artists_dt=2025-11-25_artists-000000000042.ndjson.gz")
        XCTAssertEqual(r.object.contentType, "application/x-ndjson")
        XCTAssertEqual(r.object.contentEncoding, "gzip")
        let data = try Data(contentsOf: r.object.fileURL)
        XCTAssertEqual(r.object.byteCount, data.count)
        XCTAssertEqual(Array(data[4...7]), [0, 0, 0, 0], "gzip mtime is zero")
        let plain = try gunzip(data)
        XCTAssertEqual(r.uncompressedByteCount, plain.count)
        XCTAssertLessThan(r.object.byteCount, r.uncompressedByteCount)
        // Exactly what the encoder produces, row by row.
        var expected: [UInt8] = []
        for row in rows { NDJSONEncoder().encode(values: row, batchID: 42, table: .artists, into: &expected) }
        XCTAssertEqual(plain, Data(expected))
        // Independent readers: gzip -dc gives the same text, and Python parses every line as JSON.
        let unzipped = try EncodingTestKit.run(["gzip", "-dc", r.object.fileURL.path])
        XCTAssertEqual(unzipped.status, 0, unzipped.stderr)
        XCTAssertEqual(unzipped.stdout, plain)
        let script = """
        import gzip, json, sys
        rows = [json.loads(l) for l in gzip.open(sys.argv[1], 'rt', encoding='utf-8', newline='\\n')]
        assert all(list(r.keys()) == sys.argv[2].split(',') for r in rows)
        sys.stdout.write(str(len(rows)))
        """
        let count = try EncodingTestKit.python(script, [r.object.fileURL.path, Table.artists.outputColumns.joined(separator: ",")])
        XCTAssertEqual(String(decoding: count, as: UTF8.self), String(rows.count))
        XCTAssertEqual(try spoolFiles(dir), [r.object.fileURL.lastPathComponent], "no temp file left behind")
    }

    func testPlainCSVHasHeaderAndNoEncoding() throws {
        let w = BatchFileWriter(spoolDirectory: dir, naming: ObjectNaming(format: .csv, gzip: false))
        let r = try w.write(key: "tracks/dt=2026-11-25/tracks-000000000001.csv", table: .tracks, batchID: 1, rows: { _ in })
        XCTAssertNil(r.object.contentEncoding)
        XCTAssertEqual(r.object.contentType, "text/csv")
        XCTAssertEqual(r.rowCount, 0)
        let text = try String(contentsOf: r.object.fileURL, encoding: .utf8)
        XCTAssertEqual(text, Table.tracks.outputColumns.joined(separator: ",") + "\r\n")
        XCTAssertEqual(r.object.byteCount, text.utf8.count)
        XCTAssertEqual(r.uncompressedByteCount, r.object.byteCount)
    }

    /// A row with the wrong shape fails the whole batch, leaving no spool file (nothing is
    /// written half-right; the rows stay in the outbox).
    func testWrongColumnCountThrowsAndLeavesNothing() throws {
        let w = BatchFileWriter(spoolDirectory: dir, naming: ObjectNaming(format: .ndjson, gzip: true))
        var rows = manyRows()
        rows[2500] = [.string("too short")]
        XCTAssertThrowsError(try w.write(table: .artists, batchID: 3, sealedAt: sealedAt, rows: EncodingTestKit.rowSource(rows))) {
            XCTAssertEqual($0 as? BatchEncodingError,
                           .wrongColumnCount(table: .artists, batchID: 3, rowIndex: 2500, expected: 6, actual: 1))
        }
        XCTAssertEqual(try spoolFiles(dir), [])
    }

    /// An error from the row source (e.g. SQLite) propagates and leaves no spool file, and
    /// an earlier good spool file of the same key is untouched.
    func testRowSourceErrorPropagatesAndKeepsPreviousFile() throws {
        struct ReadFailed: Error {}
        let w = BatchFileWriter(spoolDirectory: dir, naming: ObjectNaming(format: .csv, gzip: true))
        let good = try w.write(table: .artists, batchID: 8, sealedAt: sealedAt, rows: EncodingTestKit.rowSource(manyRows()))
        let before = try Data(contentsOf: good.object.fileURL)
        XCTAssertThrowsError(try w.write(table: .artists, batchID: 8, sealedAt: sealedAt, rows: { emit in
            for r in self.manyRows().prefix(2000) { try emit(r) }
            throw ReadFailed()
        })) { XCTAssertTrue($0 is ReadFailed) }
        XCTAssertEqual(try Data(contentsOf: good.object.fileURL), before)
        XCTAssertEqual(try spoolFiles(dir), [good.object.fileURL.lastPathComponent])
    }

    func testRemoveIsIdempotent() throws {
        let w = BatchFileWriter(spoolDirectory: dir, naming: ObjectNaming(format: .ndjson, gzip: false))
        let r = try w.write(table: .artists, batchID: 1, sealedAt: sealedAt, rows: EncodingTestKit.rowSource(manyRows()))
        try w.remove(r.object)
        XCTAssertFalse(FileManager.default.fileExists(atPath: r.object.fileURL.path))
        XCTAssertNoThrow(try w.remove(r.object))
    }
}
