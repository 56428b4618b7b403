import ETLCore

/// The `raw` text of a reject: the entry's canonical JSON (`JSONValue.canonicalText`), whole
/// when it fits in `AnswerLimits.rejectRawBytes`, else its first bytes (cut before a UTF-8
/// lead byte, so the text stays valid) followed by a marker:
///
///     <prefix>…[cut at <kept> of <total> bytes, fnv1a64:<16 hex>]
///
/// `total` is the byte length of the whole canonical text and the hash is FNV-1a 64 over all of
/// it, so the same oversized entry always gives the same `raw` (and `RejectHash`), and two that
/// differ only past the cut still give different ones. The whole text is never built: it is
/// written through a sink that keeps the prefix and only counts and hashes the rest, so a
/// 16 MiB entry costs 8 KiB here.
public enum RejectRaw {
    /// Joins the kept prefix and the marker.
    static let markerStart = "\u{2026}[cut at "

    public static func text(_ entry: JSONValue) -> String {
        var sink = PrefixSink(cap: AnswerLimits.rejectRawBytes)
        entry.appendCanonical(into: &sink)
        return sink.text
    }

    /// Keeps the first `cap` bytes (plus the rest of a character cut there), counts and hashes all.
    struct PrefixSink: CanonicalSink {
        let cap: Int
        var kept: [UInt8] = []
        var total = 0
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325

        init(cap: Int) { self.cap = cap; kept.reserveCapacity(min(cap, 256)) }

        mutating func appendByte(_ b: UInt8) {
            hash ^= UInt64(b)
            hash = hash &* 0x0000_0100_0000_01B3
            total += 1
            if kept.count <= cap { kept.append(b) }
        }

        mutating func appendBytes(_ b: [UInt8]) { for x in b { appendByte(x) } }

        /// Escaped a piece at a time (pieces end on scalar boundaries; the escaping is per
        /// byte, so the pieces' escapes are the whole string's), so a huge string is never
        /// escaped whole.
        mutating func appendJSONString(_ s: String) {
            appendByte(UInt8(ascii: "\""))
            let scalars = s.unicodeScalars
            var start = scalars.startIndex
            var piece: [UInt8] = []
            while start < scalars.endIndex {
                let end = scalars.index(start, offsetBy: 4096, limitedBy: scalars.endIndex) ?? scalars.endIndex
                piece.removeAll(keepingCapacity: true)
                JSONText.appendString(String(scalars[start..<end]), to: &piece)
                for x in piece.dropFirst().dropLast() { appendByte(x) }
                start = end
            }
            appendByte(UInt8(ascii: "\""))
        }

        var text: String {
            guard total > cap else { return String(decoding: kept, as: UTF8.self) }
            // Cut before the character that byte `cap` belongs to (continuation bytes are 10xxxxxx).
            var cut = cap
            while cut > 0, kept[cut] & 0xC0 == 0x80 { cut -= 1 }
            let hex = String(hash, radix: 16)
            return String(decoding: kept[..<cut], as: UTF8.self) + markerStart
                + "\(cut) of \(total) bytes, fnv1a64:\(String(repeating: "0", count: 16 - hex.count))\(hex)]"
        }
    }
}
