import FoundationEssentials
import ETLCore

/// Name cleaning for every text column: trim surrounding whitespace and normalise to NFC, so
/// the same title typed on macOS (NFD) and elsewhere (NFC) compares equal downstream. All
/// scripts, emoji and bidi text are kept as they are.
public enum TextCleaning {
    public static func clean(_ s: String) -> String {
        let (ascii, padded) = s.utf8.withContiguousStorageIfAvailable(shape) ?? shape(s.utf8)
        // The common case: ASCII without surrounding whitespace is already clean.
        if ascii && !padded { return s }
        // Pure ASCII needs no normalisation and only ASCII trimming.
        if ascii {
            let u = s.utf8
            guard let first = u.firstIndex(where: { !isASCIISpace($0) }) else { return "" }
            let last = u.lastIndex(where: { !isASCIISpace($0) })!
            return String(s[first...last])
        }
        return String(decoding: s.trimmingWhitespaceAndNewlines()._nfcCodeUnits, as: UTF8.self)
    }

    private static func isASCIISpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    /// One pass over the bytes: all ASCII, and whitespace at either end.
    private static func shape<C: BidirectionalCollection>(_ b: C) -> (ascii: Bool, padded: Bool) where C.Element == UInt8 {
        guard let first = b.first, let last = b.last else { return (true, false) }
        return (!b.contains { $0 >= 0x80 }, isASCIISpace(first) || isASCIISpace(last))
    }

    /// Parses a Spotify release date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) against its precision
    /// (nil → inferred from the shape) into (padded date, precision, year). Nil when the date
    /// does not match its precision or has an impossible month/day. Year `0000` is accepted:
    /// Spotify uses it for unknown dates on some catalogue items.
    public static func releaseDate(_ raw: String, precision: String?) -> (date: String, precision: String, year: Int)? {
        let u = Array(raw.utf8)
        func digits(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= u.count else { return nil }
            var v = 0
            for k in a..<(a + n) { guard u[k] >= 48 && u[k] <= 57 else { return nil }; v = v * 10 + Int(u[k] - 48) }
            return v
        }
        let inferred: String
        switch u.count {
        case 4: inferred = "year"
        case 7: inferred = "month"
        case 10: inferred = "day"
        default: return nil
        }
        let prec = precision ?? inferred
        guard prec == inferred, let y = digits(0, 4) else { return nil }
        if u.count >= 7 { guard u[4] == 45, let mm = digits(5, 2), (1...12).contains(mm) else { return nil } }
        if u.count == 10 { guard u[7] == 45, let dd = digits(8, 2), (1...31).contains(dd) else { return nil } }
        // The padded date: `raw` itself for a full date (its month and day are two digits
        // each, checked above), `raw` with `-01` (`-01-01`) for month (year) precision.
        switch u.count {
        case 10: return (raw, prec, y)
        case 7: return (raw + "-01", prec, y)
        default: return (raw + "-01-01", prec, y)
        }
    }
}
