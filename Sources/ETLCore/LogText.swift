/// Pieces of human-readable log messages: numbers with thousands separators, byte sizes, and
/// user text (playlist names) made safe to put inside a one-line message.
///
/// In ETLCore so that every module that writes a message for people — the HTTP request log,
/// the daemon's messages, the stderr log handler, `status` — uses the same rules.
public enum LogText {
    /// `1204` → `1,204`; `-1234567` → `-1,234,567`. Always `,`, whatever the locale.
    public static func count(_ n: Int) -> String {
        let magnitude = n.magnitude
        let digits = Array(String(magnitude))
        var out = ""
        out.reserveCapacity(digits.count + digits.count / 3 + 1)
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return n < 0 ? "-" + out : out
    }

    /// `1 row`, `0 rows`, `1,204 rows`: `count(n)` and the noun, plural (`noun + "s"` unless
    /// given) unless n is 1.
    public static func counted(_ n: Int, _ noun: String, plural: String? = nil) -> String {
        count(n) + " " + (n == 1 ? noun : plural ?? noun + "s")
    }

    /// Binary units with decimal-looking labels, as `ls -h` and most tools print them:
    /// `512 B`, `1.2 KB` (1,229 bytes), `88 KB`, `3.4 MB`, `1,024 GB`. One decimal below 10,
    /// none from 10 up; a value that would round up to 1,024 moves to the next unit.
    public static func bytes(_ n: Int) -> String {
        if n < 0 { return "-" + bytes(-n) }
        if n < 1024 { return "\(n) B" }
        let units = ["KB", "MB", "GB", "TB"]
        var value = Double(n) / 1024
        var unit = 0
        while unit < units.count - 1 && value.rounded() >= 1024 {
            value /= 1024
            unit += 1
        }
        if value < 9.95 {
            let tenths = Int((value * 10).rounded())
            return "\(tenths / 10).\(tenths % 10) \(units[unit])"
        }
        return count(Int(value.rounded())) + " " + units[unit]
    }

    /// Escapes what would break a one-line message or mislead a reader: C0/C1 control
    /// characters (`\n`, `\r`, `\t`, others as `\u{7}`), the Unicode line and paragraph
    /// separators and the bidirectional overrides/isolates (which can make text display in
    /// another order than it is stored). Everything else, emoji and every script, is kept.
    public static func escaped(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for u in s.unicodeScalars { appendEscaped(u, to: &out) }
        return out
    }

    /// User text in double quotes for a message: `"Today's Top Hits"`. Escapes as `escaped`
    /// and also `"` and `\`, so where the quoted text ends is never in doubt.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for u in s.unicodeScalars {
            if u == "\"" || u == "\\" { out.append("\\"); out.unicodeScalars.append(u) }
            else { appendEscaped(u, to: &out) }
        }
        return out + "\""
    }

    /// Makes encoder-written JSON text safe to print: every scalar `escaped` would escape
    /// becomes a JSON `\uXXXX` escape. Such scalars are never JSON syntax, so they can only
    /// stand inside string literals, where the escape means the same character: the document
    /// decodes to the same value. (The encoder already escapes C0 controls; C1 controls,
    /// U+2028/U+2029 and the bidi controls it leaves raw.)
    public static func terminalSafeJSON(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: needsEscape) else { return json }
        var out = ""
        out.reserveCapacity(json.utf8.count + 16)
        let hex = Array("0123456789abcdef".unicodeScalars)
        for u in json.unicodeScalars {
            guard needsEscape(u) else { out.unicodeScalars.append(u); continue }
            out += "\\u"
            for shift in stride(from: 12, through: 0, by: -4) { out.unicodeScalars.append(hex[Int((u.value >> UInt32(shift)) & 0xF)]) }
        }
        return out
    }

    static func needsEscape(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x2028, 0x2029: return true
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    private static func appendEscaped(_ u: Unicode.Scalar, to out: inout String) {
        guard needsEscape(u) else { out.unicodeScalars.append(u); return }
        switch u {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default: out += "\\u{" + String(u.value, radix: 16, uppercase: true) + "}"
        }
    }
}
