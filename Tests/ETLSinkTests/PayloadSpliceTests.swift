import ETLCore
@testable import ETLSink
import Foundation
import XCTest

/// The NDJSON splice path (records built from stored outbox payloads without decoding) must
/// write exactly the bytes `NDJSONEncoder` writes for the decoded values, and must refuse
/// (fall back to decoding) any payload whose bytes are not what `JSONText` would write.
final class PayloadSpliceTests: XCTestCase {
    private static let pieces: [String] = ["a", "Z", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{00}", "\u{01}",
                                           "\u{1F}", "\u{7F}", "é", "Ω", "☕", "日本", "😀", "\u{2028}", "]", ",", "[",
                                           "null", "0", "-"]

    private func randomString(_ rng: inout SplitMix64) -> String {
        var s = ""
        for _ in 0..<rng.int(8) { s += Self.pieces[rng.int(Self.pieces.count)] }
        return s
    }

    private func randomValue(_ rng: inout SplitMix64) -> Value {
        switch rng.int(7) {
        case 0: return .null
        case 1: return .bool(rng.int(2) == 0)
        case 2:
            let special: [Int64] = [0, 1, -1, 9, 10, -10, Int64.max, Int64.min, Int64.max - 1, Int64.min + 1]
            return .int(rng.int(2) == 0 ? special[rng.int(special.count)] : Int64(bitPattern: rng.next()))
        case 3: return .strings((0..<rng.int(4)).map { _ in randomString(&rng) })
        default: return .string(randomString(&rng))
        }
    }

    private func splice(_ payload: String, table: Table, batchID: Int64) -> [UInt8]? {
        var bytes = Array(payload.utf8)
        return bytes.withUnsafeMutableBufferPointer { mb in
            let b = UnsafeBufferPointer(mb)
            var ranges: [Range<Int>] = []
            guard CanonicalPayload.scan(b, into: &ranges), ranges.count == table.columns.count else { return nil }
            var out: [UInt8] = []
            NDJSONEncoder.splice(payload: b, elements: ranges, prefixes: NDJSONEncoder.keyPrefixes(table),
                                 batchID: batchID, into: &out)
            return out
        }
    }

    func testSpliceMatchesEncoderOnRandomRows() {
        var rng = SplitMix64(seed: 20261125)
        let tables = Table.allCases
        for n in 0..<5000 {
            let table = tables[n % tables.count]
            let values = table.columns.map { _ in randomValue(&rng) }
            let batchID = Int64(rng.int(1_000_000_000)) * (n % 3 == 0 ? -1 : 1)
            var expected: [UInt8] = []
            NDJSONEncoder().encode(values: values, batchID: batchID, table: table, into: &expected)
            let payload = JSONText.encodeValues(values)
            guard let got = splice(payload, table: table, batchID: batchID) else {
                return XCTFail("canonical payload refused: \(payload)")
            }
            XCTAssertEqual(got, expected, "row \(n): \(payload)")
        }
    }

    func testNonCanonicalPayloadsAreRefused() {
        let refused = ["", "[", "]", "[ ]", "[1 ]", "[ 1]", "[1,]", "[,1]", "[\"\\/\"]", "[\"\\u00e9\"]", "[\"\\u001F\"]",
                       "[\"\\u000a\"]", "[\"\\u0009\"]", "[\"\\b\"]", "[-0]", "[01]", "[1.0]", "[1e3]", "[+1]",
                       "[9223372036854775808]", "[-9223372036854775809]", "[nul]", "[True]", "[\"a\"", "[\"a]",
                       "[[1]]", "[[\"a\",]]", "[[\"a\" ]]", "[{}]", "[\"\u{01}\"]", "[\"a\"]x"]
        for p in refused {
            var ranges: [Range<Int>] = []
            let ok = Array(p.utf8).withUnsafeBufferPointer { CanonicalPayload.scan($0, into: &ranges) }
            XCTAssertFalse(ok, p)
        }
        // Invalid UTF-8 (the decoder would repair it to U+FFFD): overlong, surrogate, stray
        // continuation, truncated sequence, above U+10FFFF.
        for bad: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0x80], [0xE2, 0x98], [0xF4, 0x90, 0x80, 0x80], [0xFF]] {
            let p: [UInt8] = [UInt8(ascii: "["), UInt8(ascii: "\"")] + bad + [UInt8(ascii: "\""), UInt8(ascii: "]")]
            var ranges: [Range<Int>] = []
            XCTAssertFalse(p.withUnsafeBufferPointer { CanonicalPayload.scan($0, into: &ranges) }, "\(bad)")
        }
        let accepted = ["[]", "[0]", "[-1,null,true,false,\"\",[],[\"\"]]", "[\"\\u001f\\u0000\\n\\r\\t\\\"\\\\\"]",
                        "[9223372036854775807,-9223372036854775808]", "[\"☕😀\"]"]
        for p in accepted {
            var ranges: [Range<Int>] = []
            XCTAssertTrue(Array(p.utf8).withUnsafeBufferPointer { CanonicalPayload.scan($0, into: &ranges) }, p)
        }
    }

    /// Through the writer: payload-fed files (mixing canonical payloads with non-canonical
    /// ones that must take the decode path) equal value-fed files, for every format.
    func testWriterFromPayloadsEqualsWriterFromValues() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("splice-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = EncodingTestKit.trickyArtistRows()
        var payloads = rows.map { Array(JSONText.encodeValues($0).utf8) }
        payloads[0] = Array(("[ " + JSONText.encodeValues(rows[0]).dropFirst()).utf8)  // whitespace: decode path
        var decodes = 0
        for format in [ObjectNaming.Format.ndjson, .csv] {
            for gzip in [true, false] {
                let naming = ObjectNaming(format: format, gzip: gzip)
                let a = try BatchFileWriter(spoolDirectory: dir.appendingPathComponent("values"), naming: naming)
                    .write(key: "k", table: .artists, batchID: 9, rows: EncodingTestKit.rowSource(rows))
                let b = try BatchFileWriter(spoolDirectory: dir.appendingPathComponent("payloads"), naming: naming)
                    .write(key: "k", table: .artists, batchID: 9, payloads: { emit in
                        for (i, p) in payloads.enumerated() {
                            try p.withUnsafeBufferPointer { try emit($0) { decodes += 1; return rows[i] } }
                        }
                    })
                XCTAssertEqual(try Data(contentsOf: a.object.fileURL), try Data(contentsOf: b.object.fileURL), "\(naming)")
                XCTAssertEqual(a.rowCount, b.rowCount)
                XCTAssertEqual(a.uncompressedByteCount, b.uncompressedByteCount)
            }
        }
        // NDJSON decodes only the non-canonical payload (twice: gzip and plain); CSV decodes all.
        XCTAssertEqual(decodes, 2 + 2 * rows.count)
    }
}
