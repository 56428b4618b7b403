import ETLCore
import Foundation
import XCTest
@testable import ETLSink

final class EncodingCSVTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws { dir = try EncodingTestKit.makeTempDirectory("csv") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func encode(_ rows: [[Value]], table: Table, batchID: Int64) -> [UInt8] {
        let e = CSVEncoder(table: table)
        var out = e.header ?? []
        for r in rows { e.encode(values: r, batchID: batchID, table: table, into: &out) }
        return out
    }

    /// What a faithful reader must recover from each cell.
    private func expectedText(_ v: Value) -> String {
        switch v {
        case .null: return ""
        case .string(let s): return s
        case .int(let n): return String(n)
        case .bool(let b): return b ? "true" : "false"
        case .strings: return JSONText.string(v)
        }
    }

    /// Python's csv module (strict mode, which raises on malformed quoting) reads back exactly
    /// the header and every field, including embedded CR, LF, CRLF, quotes and commas.
    func testPythonCSVModuleReadsBackEveryField() throws {
        let rows = EncodingTestKit.trickyArtistRows()
        let file = dir.appendingPathComponent("artists.csv")
        try Data(encode(rows, table: .artists, batchID: 77)).write(to: file)
        let script = """
        import csv, json, sys
        with open(sys.argv[1], newline='', encoding='utf-8') as f:
            rows = list(csv.reader(f, strict=True))
        sys.stdout.write(json.dumps(rows, ensure_ascii=True))
        """
        let out = try EncodingTestKit.python(script, [file.path])
        let parsed = try XCTUnwrap(try JSONSerialization.jsonObject(with: out) as? [[String]])
        XCTAssertEqual(parsed.count, rows.count + 1)
        XCTAssertEqual(parsed.first, Table.artists.outputColumns)
        for (row, got) in zip(rows, parsed.dropFirst()) {
            let expected = row.map(expectedText) + ["77"]
            XCTAssertEqual(got.map { Array($0.utf8) }, expected.map { Array($0.utf8) }, "row \(row)")
        }
    }

    /// Arrays travel as JSON text in one cell; Python's json module parses that cell back.
    func testArrayCellIsJSONText() throws {
        let rows = EncodingTestKit.trickyArtistRows()
        let file = dir.appendingPathComponent("arrays.csv")
        try Data(encode(rows, table: .artists, batchID: 1)).write(to: file)
        let script = """
        import csv, json, sys
        with open(sys.argv[1], newline='', encoding='utf-8') as f:
            r = csv.DictReader(f, strict=True)
            sys.stdout.write(json.dumps([json.loads(row['genres']) for row in r], ensure_ascii=True))
        """
        let parsed = try XCTUnwrap(try JSONSerialization.jsonObject(with: try EncodingTestKit.python(script, [file.path])) as? [[String]])
        let expected: [[String]] = rows.map { if case .strings(let a) = $0[2] { return a } else { return [] } }
        XCTAssertEqual(parsed.map { $0.map { Array($0.utf8) } }, expected.map { $0.map { Array($0.utf8) } })
    }

    /// CRLF record endings, null as a bare empty field, empty string as "" — on the raw bytes,
    /// since csv.reader (3.11) cannot tell the last two apart.
    func testRawLayoutNullVersusEmptyAndCRLF() {
        let row: [Value] = [.string("id"), .string(""), .strings([]), .null, .bool(true), .string(" pad")]
        let text = String(decoding: encode([row], table: .artists, batchID: 5), as: UTF8.self)
        XCTAssertEqual(text, "artist_id,name,genres,followers,popularity,observed_at,batch_id\r\n" +
                             "id,\"\",[],,true,\" pad\",5\r\n")
    }

    func testQuotingRules() {
        func field(_ s: String) -> String {
            var out: [UInt8] = []
            CSVEncoder.appendField(Array(s.utf8), to: &out)
            return String(decoding: out, as: UTF8.self)
        }
        XCTAssertEqual(field("plain"), "plain")
        XCTAssertEqual(field("a,b"), "\"a,b\"")
        XCTAssertEqual(field("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(field("a\nb"), "\"a\nb\"")
        XCTAssertEqual(field("a\rb"), "\"a\rb\"")
        XCTAssertEqual(field(" x"), "\" x\"")
        XCTAssertEqual(field("x\t"), "\"x\t\"")
        XCTAssertEqual(field("東京"), "東京")
        XCTAssertEqual(field("=1+1"), "=1+1", "values are never altered")
    }

    func testHeaderIsOutputColumnsForEveryTable() {
        for table in Table.allCases {
            let header = CSVEncoder(table: table).header!
            XCTAssertEqual(String(decoding: header, as: UTF8.self), table.outputColumns.joined(separator: ",") + "\r\n")
        }
    }
}
