import ETLExtraction
import ETLState

/// Why a poll failed, as a type. `StorageGuard`, `status`, the metrics and `run --once`'s exit
/// code decide from the case, never from the text; `description` is for people only.
public enum PollFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The state database cannot take writes or cannot be read (disk full, read-only, I/O
    /// error, cannot open, corrupt). Polls stop until `StorageGuard`'s probe succeeds.
    case storage(StorageFailure, message: String)
    /// Any other state error (a schema from a newer binary, an undecodable stored row).
    case state(message: String)
    /// The token endpoint refused the client credentials, or a fresh token was refused.
    case auth(message: String)
    /// The refresh token expired or was revoked: every playlist fails the same way until
    /// `spotifyd-etl login` is re-run.
    case authExpired
    /// An HTTP status the client has no retry policy for, or 5xx that outlasted the retries.
    case httpStatus(Int, message: String)
    /// No HTTP status at all (connection refused, reset, timeout) after the retries.
    case transport(message: String, isTimeout: Bool)
    /// A body the client could not decode (malformed JSON, a `next` URL pointing elsewhere).
    case decode(message: String)
    /// The playlist's snapshot moved during every one of `scans` full scans.
    case snapshotUnsettled(scans: Int)

    /// Short stable code, for the `error_code` log field and metrics dimensions.
    public var code: String {
        switch self {
        case .storage(let kind, _): return "state_" + kind.rawValue
        case .state: return "state"
        case .auth: return "auth_failed"
        case .authExpired: return "refresh_token_expired"
        case .httpStatus: return "http_status"
        case .transport: return "transport"
        case .decode: return "malformed"
        case .snapshotUnsettled: return "snapshot_unsettled"
        }
    }

    public var description: String {
        switch self {
        case .storage(_, let m): return "state: \(m)"
        case .state(let m): return "state: \(m)"
        case .auth(let m): return "Spotify authentication failed: \(m)"
        case .authExpired: return SpotifyError.refreshTokenExpiredMessage
        case .httpStatus(let s, let m): return "HTTP \(s) from Spotify: \(m)"
        case .transport(let m, _): return "Spotify request failed: \(m)"
        case .decode(let m): return "malformed API response: \(m)"
        case .snapshotUnsettled(let n): return "snapshot kept changing during \(n) scans"
        }
    }

    /// Whether the state database is unusable (the storage guard holds polls back).
    public var isStorage: Bool { if case .storage = self { return true } else { return false } }

    /// Maps the Spotify client's typed errors. `deferred` and `playlistUnavailable` are not
    /// failures (see `PollOutcome`); they never reach here from `PlaylistPoller`.
    public init(_ e: SpotifyError) {
        switch e {
        case .malformed(let m): self = .decode(message: m)
        case .authFailed(let m): self = .auth(message: m)
        case .refreshTokenExpired: self = .authExpired
        case .unexpectedStatus(let s, let m): self = .httpStatus(s, message: m)
        case .playlistUnavailable(let s, let m): self = .httpStatus(s, message: m)
        case .retriesExhausted(_, _, let last):
            switch last {
            case .status(let s, let m): self = .httpStatus(s, message: m)
            case .transport(_, let m, let t): self = .transport(message: m, isTimeout: t)
            }
        case .deferred(let until, let reason, _):
            self = .transport(message: "deferred until \(until): \(reason)", isTimeout: false)
        }
    }

    public init(_ e: StateError) {
        if let kind = e.storageFailure {
            self = .storage(kind, message: e.description)
        } else {
            self = .state(message: e.description)
        }
    }
}
