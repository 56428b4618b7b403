import FoundationEssentials

/// What one poll of one playlist came to. The scheduler and `run --once` act on this; nothing
/// else about a poll leaks upward.
public enum PollOutcome: Sendable, Equatable {
    /// Same `snapshot_id` as stored: exactly one request, no rows.
    case unchanged
    /// A new snapshot was committed with its rows (in one transaction).
    case changed(rows: Int, rejects: Int, added: Int, removed: Int)
    /// Nothing was committed; try again at `until` (429, quota park, Retry-After, a closed gate).
    case deferred(until: Date, reason: String)
    /// 403/404 and similar: recorded as the playlist's last error; retried at the next interval.
    case unavailable(status: Int, message: String)
    /// A transient failure (retries exhausted, malformed body, snapshot kept moving, state
    /// error): recorded; retried at the next interval. Nothing lost.
    case failed(reason: String)
    /// The refresh token is dead: every playlist will fail the same way until `login` is re-run.
    case authExpired(message: String)

    public var isDeferred: Bool { if case .deferred = self { return true } else { return false } }
}
