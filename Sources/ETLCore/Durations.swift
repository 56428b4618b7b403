/// Parsing of the config's human units. Pure, so config validation can name the bad key.
public enum Units {
    /// "15m", "60s", "1h30m", "500ms", "2d" → seconds. Nil when malformed or not positive.
    public static func parseDuration(_ text: String) -> Double? {
        let s = text.trimmingWhitespace()
        guard !s.isEmpty else { return nil }
        var total = 0.0
        var number = ""
        var i = s.startIndex
        var sawUnit = false
        while i < s.endIndex {
            let c = s[i]
            if c.isNumber || c == "." {
                number.append(c)
                i = s.index(after: i)
                continue
            }
            var unit = ""
            while i < s.endIndex, s[i].isLetter { unit.append(s[i]); i = s.index(after: i) }
            guard let n = Double(number), !unit.isEmpty else { return nil }
            let mult: Double
            switch unit {
            case "ms": mult = 0.001
            case "s": mult = 1
            case "m": mult = 60
            case "h": mult = 3600
            case "d": mult = 86400
            default: return nil
            }
            total += n * mult
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit, total > 0 else { return nil }
        return total
    }

    /// "64MiB", "16MiB", "1GiB", "512KiB", "1000" (bytes), "10MB" → bytes. Nil when malformed.
    public static func parseByteSize(_ text: String) -> Int? {
        let s = text.trimmingWhitespace()
        let digits = s.prefix { $0.isNumber }
        guard let n = Int(digits), n > 0 else { return nil }
        let unit = s.dropFirst(digits.count).trimmingWhitespace()
        let mult: Int
        switch unit {
        case "", "B": mult = 1
        case "KiB": mult = 1 << 10
        case "MiB": mult = 1 << 20
        case "GiB": mult = 1 << 30
        case "KB", "kB": mult = 1000
        case "MB": mult = 1_000_000
        case "GB": mult = 1_000_000_000
        default: return nil
        }
        return n * mult
    }
}

import FoundationEssentials
