import ETLCore
import ETLHealth
import FoundationEssentials

/// Healthy or degraded, and why: what `spotifyd-etl status` exits 1 for, like `systemctl
/// status` for a unit that runs but is not well. Pure: the status board gathers the inputs.
public struct HealthInputs: Sendable, Equatable {
    public var uploadError: StatusReport.UploadError?
    public var watchdogHealthy = true
    public var watchdogState = "ok"
    /// The state storage failure holding polls back, as shown to people.
    public var storage: String?
    public var refreshTokenExpired = false
    /// Since when the newest (rotated) refresh token has not been saved, and why.
    public var refreshTokenUnsavedSince: Date?
    public var refreshTokenSaveError = ""
    /// Quarantined batches still in the dead-letter directory.
    public var deadLetters: StatusReport.DeadLetters?
    /// Parked on QUOTA_EXCEEDED until then.
    public var quotaParkedUntil: Date?
    /// Age of the oldest row not yet uploaded, if any.
    public var oldestOutboxAge: Double?
    public var maxAge: Double
    /// How long the flusher waits between attempts now: its tick, or its backoff.
    public var retryCadence: Double

    public init(maxAge: Double, retryCadence: Double) { self.maxAge = maxAge; self.retryCadence = retryCadence }
}

public enum HealthVerdict {
    /// One reason per problem, in a fixed order; empty when healthy.
    public static func reasons(_ i: HealthInputs) -> [String] {
        var reasons: [String] = []
        if let e = i.uploadError { reasons.append("uploads failing since \(e.at): \(e.error)") }
        if !i.watchdogHealthy { reasons.append("watchdog: \(i.watchdogState)") }
        if let s = i.storage { reasons.append("state storage: \(s)") }
        if i.refreshTokenExpired { reasons.append("refresh token expired: re-run `spotifyd-etl login`") }
        if let since = i.refreshTokenUnsavedSince {
            reasons.append("newest refresh token not saved since \(Timestamp.iso(since)) (\(i.refreshTokenSaveError)); retrying, a restart now would use the superseded one")
        }
        if let d = i.deadLetters, d.count > 0 { reasons.append(d.line + "; replay or clear them (docs/operations.md)") }
        if let until = i.quotaParkedUntil { reasons.append("parked on the Spotify quota until \(Timestamp.iso(until))") }
        // An outbox row normally leaves within max_age (sealed) plus one flush; twice that plus
        // the current retry cadence means uploads are not keeping up.
        let limit = 2 * i.maxAge + i.retryCadence
        if let oldest = i.oldestOutboxAge, oldest > limit {
            reasons.append("outbox oldest row is \(StatusReport.human(oldest)) old (more than 2 × max_age + retry cadence = \(StatusReport.human(limit)))")
        }
        return reasons
    }
}
