import ETLCore

/// Finds the top-level elements of an outbox payload that is exactly in the form
/// `JSONText.encodeValues` writes, so an NDJSON record can be spliced from the stored bytes
/// instead of decoding the row into `[Value]` and encoding it again (that round trip was
/// most of the cost of a flush).
///
/// Why "exactly": the spliced record must be byte-identical to what `NDJSONEncoder` writes
/// for the decoded values. That holds when every element's bytes are what `JSONText` would
/// write for the value they decode to, so anything else — whitespace, an escape `JSONText`
/// does not use (`\/`, `\u00e9`, upper-case hex), a number `String(Int64)` would not
/// print (`-0`, `01`, `1.0`, out of range), invalid UTF-8 (the reader rejects it) — makes
/// `scan` return false and the caller takes the decode path. Payloads this build wrote are
/// always canonical; the check only costs one pass over bytes that are copied anyway.
enum CanonicalPayload {
    /// Appends the byte range of each top-level element of `b` to `ranges` (cleared first).
    /// Returns false when `b` is not canonical (then `ranges` is meaningless).
    static func scan(_ b: UnsafeBufferPointer<UInt8>, into ranges: inout [Range<Int>]) -> Bool {
        ranges.removeAll(keepingCapacity: true)
        let n = b.count
        guard n >= 2, b[0] == UInt8(ascii: "["), b[n - 1] == UInt8(ascii: "]") else { return false }
        if n == 2 { return true }
        var i = 1
        let end = n - 1
        while true {
            let start = i
            guard i < end else { return false }
            switch b[i] {
            case UInt8(ascii: "\""):
                guard let j = string(b, i, end) else { return false }
                i = j
            case UInt8(ascii: "["):
                i += 1
                guard i < end else { return false }
                if b[i] == UInt8(ascii: "]") {
                    i += 1
                } else {
                    while true {
                        guard i < end, b[i] == UInt8(ascii: "\""), let j = string(b, i, end) else { return false }
                        i = j
                        guard i < end else { return false }
                        if b[i] == UInt8(ascii: ",") { i += 1; continue }
                        if b[i] == UInt8(ascii: "]") { i += 1; break }
                        return false
                    }
                }
            case UInt8(ascii: "n"):
                guard literal(b, i, end, "null") else { return false }
                i += 4
            case UInt8(ascii: "t"):
                guard literal(b, i, end, "true") else { return false }
                i += 4
            case UInt8(ascii: "f"):
                guard literal(b, i, end, "false") else { return false }
                i += 5
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard let j = integer(b, i, end) else { return false }
                i = j
            default:
                return false
            }
            ranges.append(start..<i)
            if i == end { return true }
            guard b[i] == UInt8(ascii: ",") else { return false }
            i += 1
        }
    }

    @inline(__always)
    private static func literal(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, _ word: StaticString) -> Bool {
        let w = word.utf8Start
        let len = word.utf8CodeUnitCount
        guard i + len <= end else { return false }
        for k in 0..<len where b[i + k] != w[k] { return false }
        return true
    }

    /// A canonical `String(Int64)` text: `0`, or `-`? then a non-zero digit and digits, in range.
    private static func integer(_ b: UnsafeBufferPointer<UInt8>, _ i0: Int, _ end: Int) -> Int? {
        var i = i0
        let negative = b[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < end, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") else { return nil }
        if b[i] == UInt8(ascii: "0") {
            // "0" alone; "-0" and leading zeros are not what String(Int64) prints.
            if negative { return nil }
            i += 1
            if i < end, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { return nil }
            return i
        }
        // Accumulate in the negative range so Int64.min fits.
        var v: Int64 = 0
        while i < end, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(Int64(b[i] - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            v = s
            i += 1
        }
        if !negative && v == Int64.min { return nil }
        // A fraction or exponent is not an integer: not canonical.
        if i < end, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") { return nil }
        return i
    }

    /// A string literal with only the escapes `JSONText.appendString` writes; returns the
    /// index after the closing quote.
    private static func string(_ b: UnsafeBufferPointer<UInt8>, _ i0: Int, _ end: Int) -> Int? {
        var i = i0 + 1
        while i < end {
            i = JSONText.plainRunEnd(b, from: i, to: end)
            guard i < end else { break }
            let c = b[i]
            if c == UInt8(ascii: "\"") { return i + 1 }
            if c < 0x20 { return nil }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < end else { return nil }
                switch b[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    // Only \u00XX for control characters other than \n \r \t, lower-case hex.
                    guard i + 5 < end, b[i + 2] == UInt8(ascii: "0"), b[i + 3] == UInt8(ascii: "0"),
                          b[i + 4] == UInt8(ascii: "0") || b[i + 4] == UInt8(ascii: "1"),
                          let lo = lowerHex(b[i + 5]) else { return nil }
                    let v = (b[i + 4] == UInt8(ascii: "1") ? 16 : 0) + lo
                    if v == 0x0A || v == 0x0D || v == 0x09 { return nil }
                    i += 6
                default:
                    return nil
                }
                continue
            }
            if c < 0x80 { i += 1; continue }
            guard let j = utf8Scalar(b, i, end) else { return nil }
            i = j
        }
        return nil
    }

    @inline(__always)
    private static func lowerHex(_ c: UInt8) -> Int? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(c - UInt8(ascii: "a")) + 10
        default: return nil
        }
    }

    /// One well-formed multi-byte UTF-8 sequence starting at `i` (Unicode table 3-7: no
    /// overlong forms, no surrogates, nothing above U+10FFFF); returns the index after it.
    private static func utf8Scalar(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int? {
        let c = b[i]
        @inline(__always) func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            i + k < end && b[i + k] >= lo && b[i + k] <= hi
        }
        switch c {
        case 0xC2...0xDF: return cont(1) ? i + 2 : nil
        case 0xE0: return cont(1, 0xA0, 0xBF) && cont(2) ? i + 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? i + 3 : nil
        case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? i + 3 : nil
        case 0xF0: return cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? i + 4 : nil
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? i + 4 : nil
        case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? i + 4 : nil
        default: return nil
        }
    }
}
