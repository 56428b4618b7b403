import ETLCore
import FoundationEssentials
import ETLTransform
import Glibc

/// Everything the Spotify client can fail with. The scheduler decides per case: a deferral
/// reschedules the playlist at `until` (never a sleeping thread), an unavailable playlist is
/// reported and skipped, exhausted retries are retried on the next poll, and auth failures
/// stop the daemon with a message an operator can act on.
///
/// Every message is built from redacted text: descriptions may reach logs and the status
/// socket, so no token, secret or authorization code ever appears in them.
public enum SpotifyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Rate limited (429, quota) or the shared gate is closed: nothing was sent, try after `until`.
    case deferred(until: Date, reason: String)
    /// 403/404 for a playlist: dev-mode access denied, editorial playlist, deleted, private.
    /// `message` is the API's own error message.
    case playlistUnavailable(status: Int, message: String)
    /// The API answered something the client cannot use (bad `next` URL, undecodable body
    /// where the client itself has to look inside). The caller decides whether to reject or skip.
    case malformed(String)
    /// 5xx or transport failures persisted through every attempt.
    case retriesExhausted(String)
    /// Credentials rejected, token endpoint unusable, or a fresh token was refused.
    case authFailed(String)
    /// `invalid_grant` on the refresh-token grant: six-month expiry or revocation.
    case refreshTokenExpired
    /// A status the client has no policy for (e.g. 400 on a malformed id).
    case unexpectedStatus(status: Int, message: String)

    public static let refreshTokenExpiredMessage =
        "Spotify refresh token expired or revoked; re-run `spotifyd-etl login`"

    public var description: String {
        switch self {
        case .deferred(let until, let reason):
            return "Spotify requests deferred until \(Timestamp.iso(until)): \(reason)"
        case .playlistUnavailable(let status, let message):
            return "playlist unavailable (HTTP \(status)): \(message)"
        case .malformed(let m): return "malformed Spotify response: \(m)"
        case .retriesExhausted(let m): return "Spotify request failed after retries: \(m)"
        case .authFailed(let m): return "Spotify authentication failed: \(m)"
        case .refreshTokenExpired: return SpotifyError.refreshTokenExpiredMessage
        case .unexpectedStatus(let status, let message):
            return "unexpected HTTP \(status) from Spotify: \(message)"
        }
    }

    /// Short stable code for the `error_code` log key and metrics dimensions.
    public var code: String {
        switch self {
        case .deferred: return "deferred"
        case .playlistUnavailable: return "playlist_unavailable"
        case .malformed: return "malformed"
        case .retriesExhausted: return "retries_exhausted"
        case .authFailed: return "auth_failed"
        case .refreshTokenExpired: return "refresh_token_expired"
        case .unexpectedStatus: return "unexpected_status"
        }
    }
}

/// Reads the API's error message out of an error body without trusting its shape.
/// Web API: `{"error": {"status": 403, "message": "..."}}`; accounts:
/// `{"error": "invalid_grant", "error_description": "..."}`. Anything else yields a short,
/// redacted excerpt so a proxy's HTML page still says something useful.
enum APIErrorBody {
    struct Parsed {
        var code: String?
        var message: String
        var reason: String?
    }

    static func parse(_ body: Data, status: Int) -> Parsed {
        if let obj = try? JSONParser.parse(Array(body)), obj.objectValue != nil {
            if let err = obj["error"], err.objectValue != nil {
                let msg = err["message"]?.stringValue ?? "HTTP \(status)"
                let reason = err["reason"]?.stringValue ?? obj["reason"]?.stringValue
                return Parsed(code: nil, message: Redaction.redact(msg), reason: reason)
            }
            if let code = obj["error"]?.stringValue {
                let desc = obj["error_description"]?.stringValue ?? code
                return Parsed(code: code, message: Redaction.redact(desc), reason: obj["reason"]?.stringValue)
            }
            if let msg = obj["message"]?.stringValue {
                return Parsed(code: nil, message: Redaction.redact(msg), reason: obj["reason"]?.stringValue)
            }
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
            .replacing("\n", with: " ")
            .trimmingWhitespace()
        let reason = text.contains("QUOTA_EXCEEDED") ? "QUOTA_EXCEEDED" : nil
        return Parsed(code: nil, message: text.isEmpty ? "HTTP \(status)" : Redaction.redact(text), reason: reason)
    }
}
