import ETLCore

/// Turns one outbox row into the bytes of one record of an object file.
///
/// The first stage of the sink pipeline (encoder → batch file → sink → retry). Encoders are
/// pure and allocation-light: they append to a caller-owned buffer so the batch writer can
/// reuse one buffer for millions of rows, and they never do I/O, so they are tested directly.
///
/// Determinism is part of the contract: the same values and batch id always produce the same
/// bytes, because a sealed batch must yield the same object on every retry.
public protocol RowEncoder: Sendable {
    /// Bytes written once at the start of every object (the CSV header row), or nil.
    var header: [UInt8]? { get }

    /// Appends one record for `values` (in `table.columns` order, without `batch_id`) followed
    /// by `batchID` as the final `batch_id` column.
    ///
    /// Callers must pass exactly `table.columns.count` values (`BatchFileWriter` checks this and
    /// throws before calling). Should a caller not, missing cells are written as null and
    /// extra cells are dropped rather than crashing, so the record still has the header's shape.
    func encode(values: [Value], batchID: Int64, table: Table, into: inout [UInt8])
}

extension ObjectNaming.Format {
    /// The encoder for this format. CSV needs the table for its header row.
    public func makeEncoder(for table: Table) -> any RowEncoder {
        switch self {
        case .ndjson: return NDJSONEncoder()
        case .csv: return CSVEncoder(table: table)
        }
    }
}

/// Byte helpers shared by the encoders (namespaced so they cannot clash with other sink code).
enum RecordBytes {
    /// Cell `i` of a row, or null when the row is short (see `RowEncoder.encode`).
    @inline(__always)
    static func cell(_ values: [Value], _ i: Int) -> Value { i < values.count ? values[i] : .null }

    /// Appends the decimal text of `n` without going through `String`.
    @inline(__always)
    static func appendDecimal(_ n: Int64, to out: inout [UInt8]) {
        if n == 0 { out.append(UInt8(ascii: "0")); return }
        var digits: [UInt8] = []
        digits.reserveCapacity(20)
        // Work in the negative range so Int64.min does not overflow.
        var v = n > 0 ? -n : n
        while v != 0 {
            let (q, r) = v.quotientAndRemainder(dividingBy: 10)
            digits.append(UInt8(ascii: "0") + UInt8(-r))
            v = q
        }
        if n < 0 { out.append(UInt8(ascii: "-")) }
        out.append(contentsOf: digits.reversed())
    }
}
