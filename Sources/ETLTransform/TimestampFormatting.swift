import ETLCore

/// Allocation-light contract timestamp formatting for the per-entry hot path.
///
/// `Timestamp.iso` (ETLCore) uses `String(format:)`, which on Linux goes through
/// CFString formatting and was ~10% of the whole transform in profiles; every playlist entry
/// carries an `added_at`. This produces the identical text (tested against `Timestamp.iso`).
enum FastTimestamp {
    static func normalize(_ s: String) -> String? {
        guard let secs = Timestamp.parse(s) else { return nil }
        return iso(epochSeconds: secs)
    }

    static func iso(epochSeconds: Int64) -> String {
        var days = epochSeconds / 86400
        var rem = epochSeconds % 86400
        if rem < 0 { rem += 86400; days -= 1 }
        // Civil from days (Howard Hinnant).
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        if m <= 2 { y += 1 }
        guard (0...9999).contains(y) else { return Timestamp.iso(epochSeconds: epochSeconds) }
        let h = rem / 3600, mi = (rem % 3600) / 60, se = rem % 60
        var out = [UInt8](repeating: 0, count: 20)
        func put(_ v: Int64, _ at: Int, _ n: Int) {
            var v = v
            for k in stride(from: at + n - 1, through: at, by: -1) { out[k] = UInt8(48 + v % 10); v /= 10 }
        }
        put(y, 0, 4); out[4] = 45; put(m, 5, 2); out[7] = 45; put(d, 8, 2); out[10] = 84
        put(h, 11, 2); out[13] = 58; put(mi, 14, 2); out[16] = 58; put(se, 17, 2); out[19] = 90
        return String(decoding: out, as: UTF8.self)
    }
}
