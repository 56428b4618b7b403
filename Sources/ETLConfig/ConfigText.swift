import ETLCore
/// Text helpers for config error messages: one line, dotted key paths, quoted values,
/// and "did you mean" hints for typos.
enum ConfigText {
    /// `spotify` + `api_url` → `spotify.api_url`; keys that are not bare TOML keys are quoted.
    static func join(_ path: String, _ key: String) -> String {
        let bare = !key.isEmpty && key.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
        }
        let k = bare ? key : quote(key, limit: 64)
        return path.isEmpty ? k : path + "." + k
    }

    /// A value quoted for an error message: control characters escaped so the message stays
    /// on one line, and long values truncated.
    static func quote(_ s: String, limit: Int = 80) -> String {
        var out = "\""
        var count = 0
        for scalar in s.unicodeScalars {
            if count >= limit { out += "…"; break }
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value)
                    || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
            count += 1
        }
        return out + "\""
    }

    /// A bound in seconds as a config duration: 1 → "1s", 10 → "10s", 0.5 → "500ms".
    static func seconds(_ s: Double) -> String {
        if s < 1 { return "\(Int((s * 1000).rounded()))ms" }
        if s == s.rounded() { return "\(Int(s))s" }
        return "\(s)s"
    }

    /// Collapses a multi-line message (e.g. from the TOML parser) onto one line.
    static func oneLine(_ s: String) -> String {
        s.split(whereSeparator: { $0.isNewline }).map { $0.trimmingWhitespace() }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    static func article(_ noun: String) -> String {
        guard let first = noun.first else { return noun }
        return ("aeiou".contains(first) ? "an " : "a ") + noun
    }

    static let secretKeys: Set<String> = ["client_id", "client_secret", "refresh_token", "secret", "token",
                                          "access_key", "secret_key", "aws_access_key_id", "aws_secret_access_key"]

    static func unknownKeyMessage(_ key: String, allowed: [String]) -> String {
        if secretKeys.contains(key.lowercased()) {
            return "unknown key: secrets do not belong in the config file; use the environment or $CREDENTIALS_DIRECTORY (see docs/configuration.md)"
        }
        var msg = "unknown key"
        if let near = closest(to: key, in: allowed) { msg += " (did you mean \"\(near)\"?)" }
        return msg + "; allowed here: " + allowed.joined(separator: ", ")
    }

    /// The allowed key within edit distance 2 of `key`, for typo hints.
    static func closest(to key: String, in candidates: [String]) -> String? {
        let k = Array(key.lowercased())
        var best: (String, Int)? = nil
        for c in candidates {
            let d = distance(k, Array(c))
            if d <= 2, d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        return best?.0
    }

    private static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
}
