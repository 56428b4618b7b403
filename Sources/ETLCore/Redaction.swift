/// Secrets never reach logs, status or error text. Anything that formats a request, a URL or
/// an error from a peer passes it through here first.
public enum Redaction {
    /// Replaces the values of known secret-bearing query/form keys and header values.
    public static func redact(_ text: String, secrets: [String] = []) -> String {
        var out = text
        for s in secrets where s.count >= 4 {
            out = out.replacing(s, with: "[REDACTED]")
        }
        for key in ["access_token", "refresh_token", "client_secret", "code", "code_verifier",
                    "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential"] {
            out = redactParam(key, in: out)
        }
        for prefix in ["Bearer ", "Basic "] {
            out = redactAfter(prefix, in: out)
        }
        return out
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
