import FoundationEssentials
import Glibc

/// UTC ISO-8601 with a `Z` suffix, second precision: the contract's only timestamp form.
/// Hand-rolled on `gmtime_r` because DateFormatter is slow and not thread-safe enough for the
/// hot path, and the output must not depend on locale.
public enum Timestamp {
    public static func iso(_ date: Date) -> String { iso(epochSeconds: Int64(date.timeIntervalSince1970.rounded(.down))) }

    public static func iso(epochSeconds: Int64) -> String {
        var t = time_t(epochSeconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        return cFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    /// `YYYY-MM-DD` in UTC, for the `dt=` partition of object names.
    public static func day(_ date: Date) -> String { String(iso(date).prefix(10)) }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` → epoch seconds. Nil when malformed.
    public static func parse(_ s: String) -> Int64? {
        let u = Array(s.utf8)
        func num(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= u.count else { return nil }
            var v = 0
            for k in a..<(a + n) { let c = u[k]; guard c >= 48 && c <= 57 else { return nil }; v = v * 10 + Int(c - 48) }
            return v
        }
        guard u.count >= 20, let y = num(0, 4), u[4] == 45, let mo = num(5, 2), u[7] == 45, let d = num(8, 2),
              u[10] == 84 || u[10] == 116, let h = num(11, 2), u[13] == 58, let mi = num(14, 2), u[16] == 58,
              let se = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61 else { return nil }
        var i = 19
        if i < u.count, u[i] == 46 { i += 1; let start = i; while i < u.count, u[i] >= 48 && u[i] <= 57 { i += 1 }; if i == start { return nil } }
        var offset = 0
        guard i < u.count else { return nil }
        if u[i] == 90 || u[i] == 122 { i += 1 } else if u[i] == 43 || u[i] == 45 {
            guard let oh = num(i + 1, 2), u.count > i + 3, u[i + 3] == 58, let om = num(i + 4, 2) else { return nil }
            offset = (oh * 3600 + om * 60) * (u[i] == 45 ? -1 : 1)
            i += 6
        } else { return nil }
        guard i == u.count else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (mo + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return Int64(days) * 86400 + Int64(h * 3600 + mi * 60 + se) - Int64(offset)
    }

    /// Normalises an API timestamp to the contract form; nil when unparseable.
    public static func normalize(_ s: String) -> String? { parse(s).map { iso(epochSeconds: $0) } }
}
