import ETLCore

/// RFC 4180 CSV with a header row of `table.outputColumns`.
///
/// Decisions, and why:
/// - Records end with CRLF, as RFC 4180 §2.1 specifies. Every warehouse loader and Python's
///   `csv` module accept it, and CR/LF inside values stay unambiguous because such fields
///   are always quoted.
/// - A field is quoted when it contains `,`, `"`, CR or LF, or starts or ends with a space or
///   tab (many loaders trim unquoted fields). Quotes inside are doubled. Other fields are
///   written bare, so the output is stable and minimal.
/// - Null is an empty, unquoted field; the empty string is `""`. The two stay distinct for
///   loaders that can tell them apart (Snowflake `FIELD_OPTIONALLY_ENCLOSED_BY='"'` with
///   `EMPTY_FIELD_AS_NULL=TRUE`, Python 3.12 `csv.QUOTE_NOTNULL`).
/// - Booleans are `true`/`false`; integers plain decimal; arrays are one cell holding their
///   JSON text (`["a","b"]`), quoted because JSON text contains quotes and commas.
/// - Values are never altered: no formula-injection prefixing, since this file feeds a
///   warehouse, not a spreadsheet, and the bytes must round-trip exactly.
public struct CSVEncoder: RowEncoder {
    public let table: Table

    public init(table: Table) { self.table = table }

    public var header: [UInt8]? {
        var out: [UInt8] = []
        for (i, name) in table.outputColumns.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            Self.appendField(Array(name.utf8), to: &out)
        }
        out.append(contentsOf: [0x0D, 0x0A])
        return out
    }

    /// Encodes against `table`'s columns. The header comes from `self.table`; the writer
    /// always passes the same table for both.
    public func encode(values: [Value], batchID: Int64, table: Table, into out: inout [UInt8]) {
        let count = table.columns.count
        for i in 0..<count {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            switch RecordBytes.cell(values, i) {
            case .null: break
            case .string(let s):
                if s.isEmpty { out.append(contentsOf: [0x22, 0x22]) } else { Self.appendField(Array(s.utf8), to: &out) }
            case .int(let n): RecordBytes.appendDecimal(n, to: &out)
            case .bool(let b): out.append(contentsOf: b ? Array("true".utf8) : Array("false".utf8))
            case .strings(let a):
                var json: [UInt8] = []
                JSONText.appendValue(.strings(a), to: &json)
                Self.appendField(json, to: &out)
            }
        }
        if count > 0 { out.append(UInt8(ascii: ",")) }
        RecordBytes.appendDecimal(batchID, to: &out)
        out.append(contentsOf: [0x0D, 0x0A])
    }

    /// Whether `bytes` must be quoted (see the type's doc comment).
    static func needsQuoting(_ bytes: [UInt8]) -> Bool {
        if bytes.isEmpty { return true }
        if let first = bytes.first, first == 0x20 || first == 0x09 { return true }
        if let last = bytes.last, last == 0x20 || last == 0x09 { return true }
        return bytes.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0D || $0 == 0x0A }
    }

    /// Appends a non-null text field, quoting and doubling quotes when needed.
    static func appendField(_ bytes: [UInt8], to out: inout [UInt8]) {
        guard needsQuoting(bytes) else { out.append(contentsOf: bytes); return }
        out.append(0x22)
        for b in bytes {
            out.append(b)
            if b == 0x22 { out.append(0x22) }
        }
        out.append(0x22)
    }
}
