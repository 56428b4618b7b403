import ETLCore

/// The stored form of one outbox entry: the rows of ONE table from ONE commit.
///
/// Why entries and not a row per fact: a first poll of a 500-item playlist produces ~600
/// rows. As outbox rows that was 600 b-tree inserts, 600 reads when the batch was written,
/// and 600 deletes after the upload, which together were a third of the pipeline's SQLite
/// time. As entries it is one of each per table. Batches still cut at any row (`max_rows`
/// and `max_bytes` are exact), because a batch is recorded as a range of (entry, row index)
/// positions; entries are never rewritten, so a sealed range always yields the same rows.
///
/// `payload` is the rows' payload texts (see `JSONText.encodeValues`) concatenated;
/// `lengths` is each payload's byte length as an unsigned LEB128 varint, or absent (NULL)
/// for an entry of exactly one row (every entry migrated from schema 1). Pure: no I/O.
enum OutboxChunk {
    /// Appends one row length.
    static func appendLength(_ n: Int, to lengths: inout [UInt8]) {
        var v = UInt64(max(0, n))
        while v >= 0x80 {
            lengths.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        lengths.append(UInt8(v))
    }

    enum DecodeError: Error, Equatable, CustomStringConvertible {
        case countMismatch(expected: Int, found: Int)
        case lengthsExceedPayload
        case badVarint

        var description: String {
            switch self {
            case .countMismatch(let e, let f): return "entry says \(e) rows but lists \(f) lengths"
            case .lengthsExceedPayload: return "row lengths do not add up to the payload's size"
            case .badVarint: return "row length list is damaged"
            }
        }
    }

    /// Row lengths of an entry, checked against its row count and payload size. `lengths`
    /// nil means one row spanning the payload.
    static func rowLengths(_ lengths: UnsafeBufferPointer<UInt8>?, rowCount: Int, payloadBytes: Int) throws(DecodeError) -> [Int] {
        guard let lengths else {
            guard rowCount == 1 else { throw .countMismatch(expected: rowCount, found: 1) }
            return [payloadBytes]
        }
        var out: [Int] = []
        out.reserveCapacity(max(0, rowCount))
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var total = 0
        for b in lengths {
            guard shift < 63 else { throw .badVarint }
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 != 0 { shift += 7; continue }
            guard value <= UInt64(payloadBytes - total) else { throw .lengthsExceedPayload }
            out.append(Int(value))
            total += Int(value)
            value = 0
            shift = 0
        }
        guard shift == 0 else { throw .badVarint }
        guard out.count == rowCount else { throw .countMismatch(expected: rowCount, found: out.count) }
        guard total == payloadBytes else { throw .lengthsExceedPayload }
        return out
    }
}

/// A row's place in the outbox: its entry and its index within the entry. Batches are
/// contiguous, inclusive ranges of these, per table.
struct OutboxPosition: Comparable, Sendable {
    var entry: Int64
    var row: Int

    static func < (a: OutboxPosition, b: OutboxPosition) -> Bool {
        (a.entry, a.row) < (b.entry, b.row)
    }
}
