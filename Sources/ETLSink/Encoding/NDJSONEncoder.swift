import ETLCore

/// Newline-delimited JSON: one object per line, keys in `table.outputColumns` order.
///
/// Why hand-written and not JSONSerialization: key order and escaping must never change
/// between runs or Foundation versions (sealed batches are byte-identical on retry), so every
/// string goes through `JSONText`. Strings keep non-ASCII as raw UTF-8 and escape control
/// characters, so a record never spans lines and the `\n` terminator is unambiguous.
/// Arrays are JSON arrays, null is `null`, booleans `true`/`false`, integers plain decimal.
/// Every record, including the last, ends with `\n` (what Snowflake, BigQuery and jq expect).
public struct NDJSONEncoder: RowEncoder {
    public init() {}

    public var header: [UInt8]? { nil }

    public func encode(values: [Value], batchID: Int64, table: Table, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        let columns = table.columns
        for (i, name) in columns.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(name, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONText.appendValue(RecordBytes.cell(values, i), to: &out)
        }
        if !columns.isEmpty { out.append(UInt8(ascii: ",")) }
        JSONText.appendString("batch_id", to: &out)
        out.append(UInt8(ascii: ":"))
        RecordBytes.appendDecimal(batchID, to: &out)
        out.append(contentsOf: [UInt8(ascii: "}"), UInt8(ascii: "\n")])
    }

    /// The `"name":` bytes of each column of `table`, computed once per batch for `splice`.
    static func keyPrefixes(_ table: Table) -> [[UInt8]] {
        table.columns.map { name in
            var out: [UInt8] = []
            JSONText.appendString(name, to: &out)
            out.append(UInt8(ascii: ":"))
            return out
        }
    }

    /// The same record as `encode`, built from a canonical outbox payload (`CanonicalPayload`)
    /// by copying each element's stored bytes after its column name: for a canonical payload
    /// an element's bytes are exactly what `JSONText.appendValue` writes for its value.
    /// `elements.count` must equal `prefixes.count`.
    static func splice(payload: UnsafeBufferPointer<UInt8>, elements: [Range<Int>], prefixes: [[UInt8]],
                       batchID: Int64, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for i in 0..<prefixes.count {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: prefixes[i])
            out.append(contentsOf: UnsafeBufferPointer(rebasing: payload[elements[i]]))
        }
        if !prefixes.isEmpty { out.append(UInt8(ascii: ",")) }
        JSONText.appendString("batch_id", to: &out)
        out.append(UInt8(ascii: ":"))
        RecordBytes.appendDecimal(batchID, to: &out)
        out.append(contentsOf: [UInt8(ascii: "}"), UInt8(ascii: "\n")])
    }
}
