/// Secrets never reach logs, status or error text. Anything that formats a request, a URL or
/// an error from a peer passes it through here first.
public enum Redaction {
    /// Replaces the values of known secret-bearing query/form keys and header values.
    public static func redact(_ text: String, secrets: [String] = []) -> String {
        var out = text
        for s in secrets where s.count >= 4 && contains(out, s) {
            out = out.replacing(s, with: "[REDACTED]")
        }
        for key in secretParams where contains(out, key + "=") {
            out = redactParam(key, in: out)
        }
        for prefix in credentialPrefixes where contains(out, prefix) {
            out = redactAfter(prefix, in: out)
        }
        return out
    }

    public static let secretParams = ["access_token", "refresh_token", "client_secret", "code", "code_verifier",
                               "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential"]
    public static let credentialPrefixes = ["Bearer ", "Basic "]

    /// A byte search, so the common line that holds no secret costs a scan per key instead of
    /// a generic `firstRange` per key (every log line passes through here: measured at 8 % of
    /// the daemon's CPU with 20,000 playlists).
    public static func contains(_ text: String, _ needle: String) -> Bool {
        var hay = text
        var pin = needle
        return hay.withUTF8 { h in
            pin.withUTF8 { n in
                guard let first = n.first, n.count <= h.count else { return n.isEmpty }
                var i = 0
                let last = h.count - n.count
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < n.count, h[i + j] == n[j] { j += 1 }
                        if j == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }

    private static func redactParam(_ key: String, in text: String) -> String {
        var result = ""
        var rest = Substring(text)
        let needle = key + "="
        while let r = rest.firstRange(of: needle) {
            result += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            let end = rest.firstIndex { $0 == "&" || $0 == " " || $0 == "\"" || $0 == "\n" || $0 == "," } ?? rest.endIndex
            result += "[REDACTED]"
            rest = rest[end...]
        }
        return result + rest
    }

    /// A credential after `Bearer `/`Basic ` is one run of token characters (base64, base64url,
    /// JWT dots), at least `minimumCredential` long. Shorter or other text is ordinary words,
    /// e.g. a playlist called "Basic Mix", and stays readable.
    static let minimumCredential = 16

    private static func isTokenCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || "+/=._~-".contains(c))
    }

    private static func redactAfter(_ prefix: String, in text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let r = rest.firstRange(of: prefix) {
            result += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            let end = rest.firstIndex { !isTokenCharacter($0) } ?? rest.endIndex
            if rest.distance(from: rest.startIndex, to: end) >= minimumCredential {
                result += "[REDACTED]"
                rest = rest[end...]
            }
        }
        return result + rest
    }
}

import FoundationEssentials
