import FoundationEssentials
import ETLCore
import Glibc

/// Parsing of the `Retry-After` header (RFC 9110 §10.2.3 / RFC 7231 §7.1.3): either
/// delay-seconds or an HTTP-date. Hand-rolled (no DateFormatter) so it is locale-independent
/// and pure. Accepts IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and, as the RFC asks
/// recipients to, the obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`) forms.
public enum RetryAfter {
    /// Used when a 429 carries no usable header.
    public static let defaultDelay: Double = 30
    /// The longest wait a header may ask for: 24 h. A longer one (a far-future date, a
    /// 20-digit number) is read as exactly this, with a warning; Spotify's own long parks
    /// (quota) are hours, not days.
    public static let maximum: Double = 86_400
    /// How much of a raw header value a warning quotes.
    static let quotedLength = 64

    /// What a `Retry-After` value says, once range-checked.
    public enum Reading: Sendable, Equatable {
        /// No header, or an empty one.
        case absent
        /// Neither delay-seconds nor an HTTP-date (a negative number, `1e20`, text): the
        /// caller's default applies.
        case invalid
        /// Wait this many seconds, 0...`maximum` (a date in the past is 0).
        case wait(Double)
        /// Asked for more than `maximum`: wait `maximum`.
        case capped
    }

    /// Reads a header value relative to `now`. Never traps, whatever the text.
    public static func read(_ header: String?, now: Date) -> Reading {
        guard let raw = header?.trimmingWhitespace(), !raw.isEmpty else { return .absent }
        if raw.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
            // delay-seconds: digits (a fraction tolerated). Too many digits for a Double is
            // still "a very long wait", not garbage.
            guard raw.contains(where: \.isNumber), raw.filter({ $0 == "." }).count <= 1 else { return .invalid }
            guard let s = Double(raw), s.isFinite else { return .capped }
            return s > maximum ? .capped : .wait(max(0, s))
        }
        guard let date = httpDate(raw) else { return .invalid }
        let wait = date.timeIntervalSince(now)
        guard wait.isFinite else { return .invalid }
        return wait > maximum ? .capped : .wait(max(0, wait))
    }

    /// Seconds to wait from `now`, in 0...`maximum`; nil when absent or unusable (the caller's
    /// default applies). A date in the past yields 0.
    public static func seconds(_ header: String?, now: Date) -> Double? {
        switch read(header, now: now) {
        case .absent, .invalid: return nil
        case .wait(let s): return s
        case .capped: return maximum
        }
    }

    /// The warning to log when `header` asked for more than `maximum`, naming the raw value
    /// (control characters escaped, cut to `quotedLength` characters, so hostile text stays
    /// one short line); nil otherwise.
    public static func capWarning(_ header: String?, now: Date) -> String? {
        guard let header, read(header, now: now) == .capped else { return nil }
        return "Retry-After \(quoted(header)) asks for more than 24 h; waiting 24 h"
    }

    /// A wait as whole seconds for logs and reasons: rounded up, never negative, and a value
    /// no Int can hold (a corrupt stored park, an absurd date) shown as `Int32.max` instead of trapping.
    public static func wholeSeconds(_ interval: Double) -> Int {
        guard interval.isFinite else { return interval > 0 ? Int(Int32.max) : 0 }
        return Int(min(max(interval.rounded(.up), 0), Double(Int32.max)))
    }

    /// `header` as a warning quotes it: escaped and at most `quotedLength` characters.
    static func quoted(_ header: String) -> String {
        let trimmed = header.trimmingWhitespace()
        let cut = trimmed.count > quotedLength ? String(trimmed.prefix(quotedLength)) + "…" : String(trimmed)
        return LogText.quoted(cut)
    }

    /// The latest year an HTTP-date is read with; any later year is this one (far beyond
    /// `maximum` either way), which keeps the day arithmetic below far from overflow.
    static let latestYear = 10_000

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Parses the three HTTP-date forms; nil when malformed. A year after `latestYear` reads as
    /// `latestYear`.
    public static func httpDate(_ text: String) -> Date? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        var day: Int?, month: Int?, year: Int?, clock: String?
        if parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT" {
            // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
            day = Int(parts[1]); month = monthIndex(parts[2]); year = Int(parts[3]); clock = parts[4]
        } else if parts.count == 4, parts[0].hasSuffix(","), parts[3] == "GMT" {
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
            let d = parts[1].split(separator: "-").map(String.init)
            guard d.count == 3, let yy = Int(d[2]) else { return nil }
            day = Int(d[0]); month = monthIndex(d[1]); clock = parts[2]
            year = d[2].count == 2 ? (yy < 70 ? 2000 + yy : 1900 + yy) : yy
        } else if parts.count == 5 {
            // asctime: Sun Nov  6 08:49:37 1994
            month = monthIndex(parts[1]); day = Int(parts[2]); clock = parts[3]; year = Int(parts[4])
        }
        guard let day, let month, var year, let clock, (1...31).contains(day), year >= 1970 else { return nil }
        year = min(year, latestYear)
        let hms = clock.split(separator: ":").map { Int($0) }
        guard hms.count == 3, let h = hms[0], let m = hms[1], let s = hms[2], (0..<24).contains(h), (0..<60).contains(m),
              (0..<61).contains(s) else { return nil }
        // Days from civil (Howard Hinnant), as in ETLCore.Timestamp.
        let yy = month <= 2 ? year - 1 : year
        let era = yy / 400
        let yoe = yy - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return Date(timeIntervalSince1970: Double(days * 86400 + h * 3600 + m * 60 + s))
    }

    private static func monthIndex(_ s: String) -> Int? {
        months.firstIndex(of: s.lowercased()).map { $0 + 1 }
    }

    /// Formats an IMF-fixdate; used by tests and by nothing on the hot path.
    public static func imfFixdate(_ date: Date) -> String {
        var t = time_t(Int64(date.timeIntervalSince1970.rounded(.down)))
        var tm = tm()
        gmtime_r(&t, &tm)
        let wd = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][Int(tm.tm_wday)]
        let mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][Int(tm.tm_mon)]
        let rest = cFormat("%04d %02d:%02d:%02d GMT", Int(tm.tm_year) + 1900, Int(tm.tm_hour), Int(tm.tm_min),
                          Int(tm.tm_sec))
        return "\(wd), \(cFormat("%02d", Int(tm.tm_mday))) \(mon) \(rest)"
    }
}
