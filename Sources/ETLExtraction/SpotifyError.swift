import ETLCore
import ETLHTTP
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
    /// `cause` says which, for codes and metrics; `reason` is the operator's text.
    case deferred(until: Date, reason: String, cause: DeferralCause)
    /// 403/404 for a playlist: dev-mode access denied, editorial playlist, deleted, private.
    /// `message` is the API's own error message.
    case playlistUnavailable(status: Int, message: String)
    /// The API answered something the client cannot use (bad `next` URL, undecodable body
    /// where the client itself has to look inside). The caller decides whether to reject or skip.
    case malformed(String)
    /// 5xx or transport failures persisted through every attempt. `request` is the method and
    /// redacted path (e.g. `GET /playlists/x`), `last` the failure of the final attempt.
    case retriesExhausted(request: String, attempts: Int, last: RequestFailure)
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
        case .deferred(let until, let reason, _):
            return "Spotify requests deferred until \(Timestamp.iso(until)): \(reason)"
        case .playlistUnavailable(let status, let message):
            return "playlist unavailable (HTTP \(status)): \(message)"
        case .malformed(let m): return "malformed Spotify response: \(m)"
        case .retriesExhausted(let request, let attempts, let last):
            return "Spotify request failed after retries: \(request): \(last) (\(attempts) attempts)"
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

/// Why a request was deferred. Raw values are the stable codes for the `error_code` log key
/// and metrics dimensions.
public enum DeferralCause: String, Sendable, Equatable {
    /// A 429 with an ordinary Retry-After (or none).
    case rateLimited = "rate_limited"
    /// A 429 whose JSON error body gave `reason: QUOTA_EXCEEDED`: the app is parked ≥ 1 h.
    case quotaExceeded = "quota_exceeded"
    /// A 5xx whose Retry-After asked for longer than a retry sleep may last.
    case serviceUnavailable = "service_unavailable"
    /// Nothing was sent because the shared gate is shut (by another request's 429 or 5xx);
    /// `RateGate.state` says why it is shut.
    case gateClosed = "gate_closed"
    /// The caller's own storage cannot take writes; polls wait for it (set by the daemon).
    case storage

    /// The cause of a gate park read back from a store: a value written before the cause was
    /// stored (nil) or one this binary does not know counts as an ordinary rate limit.
    public static func persisted(_ raw: String?) -> DeferralCause {
        raw.flatMap(DeferralCause.init(rawValue:)) ?? .rateLimited
    }
}

/// The failure of one attempt, as kept for `SpotifyError.retriesExhausted`. Messages are
/// redacted before they are stored here.
public enum RequestFailure: Sendable, Equatable, CustomStringConvertible {
    /// A retryable HTTP status (5xx) with the API's (redacted) message.
    case status(Int, message: String)
    /// No status was received; the fields of ETLHTTP's `HTTPTransportError`.
    case transport(code: Int, message: String, isTimeout: Bool)

    public var description: String {
        switch self {
        case .status(let s, let m): return "HTTP \(s): \(m)"
        case .transport(let code, let m, _): return "transport error \(code): \(m)"
        }
    }

    /// A transport failure from whatever `HTTPTransport.send` threw, its text passed through
    /// `redact`. `HTTPTransportError` keeps its code and timeout flag; any other error (a test
    /// transport's) has code -1.
    static func transport(_ error: any Error, redact: (String) -> String) -> RequestFailure {
        if let e = error as? HTTPTransportError {
            return .transport(code: e.code, message: redact(e.message), isTimeout: e.isTimeout)
        }
        return .transport(code: -1, message: redact("\(error)"), isTimeout: false)
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
        var reason: String?
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
            reason = obj["reason"]?.stringValue
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
            .replacing("\n", with: " ")
            .trimmingWhitespace()
        // Only a JSON object has a `reason`: words in a proxy's text page classify nothing.
        return Parsed(code: nil, message: text.isEmpty ? "HTTP \(status)" : Redaction.redact(text), reason: reason)
    }
}
