import ETLCore

/// Allocation-light contract timestamp formatting for the per-entry hot path.
///
/// `Timestamp.iso` (ETLCore) uses `String(format:)`, which on Linux goes through
/// CFString formatting and was ~10% of the whole transform in profiles; every playlist entry
/// carries an `added_at`. This produces the identical text (tested against `Timestamp.iso`).
enum FastTimestamp {
    static func normalize(_ s: String) -> String? {
        if isCanonical(s) { return s }
        guard let secs = Timestamp.parse(s) else { return nil }
        return iso(epochSeconds: secs)
    }

    /// True when `s` is already the contract form of an instant, as `iso` writes it:
    /// `YYYY-MM-DDTHH:MM:SSZ` with a day that exists in its month and seconds below 60 (parsing
    /// would roll a 31 April or a leap second over). Normalising such a text gives it back
    /// unchanged, so it is returned as it is, without parsing and formatting it again.
    static func isCanonical(_ s: String) -> Bool {
        s.utf8.withContiguousStorageIfAvailable { u -> Bool in
            guard u.count == 20, u[4] == 45, u[7] == 45, u[10] == 84, u[13] == 58, u[16] == 58, u[19] == 90 else { return false }
            func num(_ a: Int) -> Int? {
                let h = u[a], l = u[a + 1]
                guard h >= 48, h <= 57, l >= 48, l <= 57 else { return nil }
                return Int(h - 48) * 10 + Int(l - 48)
            }
            guard let y1 = num(0), let y2 = num(2), let mo = num(5), let d = num(8), let h = num(11), let mi = num(14),
                  let se = num(17), (1...12).contains(mo), d >= 1, h < 24, mi < 60, se < 60 else { return false }
            let y = y1 * 100 + y2
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
            let days = mo == 2 ? (leap ? 29 : 28) : (mo == 4 || mo == 6 || mo == 9 || mo == 11 ? 30 : 31)
            return d <= days
        } ?? false
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
