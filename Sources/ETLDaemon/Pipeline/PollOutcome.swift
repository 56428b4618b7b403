import ETLExtraction
import FoundationEssentials

/// What one poll of one playlist came to. The scheduler and `run --once` act on this; nothing
/// else about a poll leaks upward.
public enum PollOutcome: Sendable, Equatable {
    /// Same `snapshot_id` as stored: exactly one request, no rows.
    case unchanged
    /// A new snapshot was committed with its rows (in one transaction). `rows` counts the
    /// snapshot's rows (rejects included), not the poll's own `polls` row.
    case changed(rows: Int, rejects: Int, added: Int, removed: Int)
    /// Nothing was committed; try again at `until` (429, quota park, Retry-After, a closed
    /// gate, state storage that cannot take writes).
    case deferred(until: Date, reason: String, cause: DeferralCause)
    /// 403/404 and similar: recorded as the playlist's last error; retried at the next interval.
    case unavailable(status: Int, message: String)
    /// Nothing was committed; recorded as the playlist's last error and retried at the next
    /// interval. Nothing lost.
    case failed(PollFailure)

    public var isDeferred: Bool { if case .deferred = self { return true } else { return false } }

    /// The failure, when the poll failed.
    public var failure: PollFailure? { if case .failed(let f) = self { return f } else { return nil } }
}
