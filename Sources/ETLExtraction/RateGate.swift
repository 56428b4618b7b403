import ETLCore
import FoundationEssentials
import Synchronization

/// A closure of the shared gate: nothing may be sent before `notBefore`. `cause` is why it
/// was shut (`.rateLimited`, `.quotaExceeded` or `.serviceUnavailable`), `reason` the text
/// for operators.
public struct GatePark: Sendable, Equatable {
    public var notBefore: Date
    public var reason: String
    public var cause: DeferralCause

    public init(notBefore: Date, reason: String, cause: DeferralCause) {
        self.notBefore = notBefore
        self.reason = reason
        self.cause = cause
    }
}

/// Where the gate's park survives a restart. The daemon backs this with the state DB, so a
/// `kill -9` during a one-hour quota park does not let the next process send early. The cause
/// is stored with the park, so a quota park read back is still a quota park; a store holding
/// a park written without one reads it as `DeferralCause.persisted(nil)` (`.rateLimited`).
public protocol GateStore: AnyObject, Sendable {
    func loadGate() -> GatePark?
    func saveGate(_ park: GatePark)
}

/// A process-local store, for tests and for `--once` runs that need no persistence.
public final class InMemoryGateStore: GateStore {
    private struct State {
        var park: GatePark?
        var saveCount = 0
    }

    private let state: Guarded<State>

    /// Parks written so far.
    public var saveCount: Int { state.withLock { $0.saveCount } }

    public init(notBefore: Date? = nil, reason: String = "", cause: DeferralCause = .rateLimited) {
        state = Guarded(State(park: notBefore.map { GatePark(notBefore: $0, reason: reason, cause: cause) }))
    }

    public func loadGate() -> GatePark? {
        state.withLock { $0.park }
    }

    public func saveGate(_ park: GatePark) {
        state.withLock {
            $0.park = park
            $0.saveCount += 1
        }
    }
}

/// The one rate-limit gate shared by every worker. Spotify's limit is per app, so a 429 seen
/// by one worker must stop all of them: each checks `permit` before sending and, when shut,
/// hands a deferral back to the scheduler instead of sleeping.
///
/// The not-before time only ever moves later (a short Retry-After from one worker must not
/// cut short a quota park recorded by another) and is written through to the store.
public final class RateGate: Sendable {
    /// A 429 whose JSON error body gives `reason: QUOTA_EXCEEDED` parks the app at least this long.
    public static let quotaPark: Double = 3600
    /// Floor for any 429 wait: a `Retry-After: 0` must not become a tight retry loop.
    public static let minimumWait: Double = 1

    private let park: Guarded<GatePark?>
    private let store: GateStore?

    public init(store: GateStore? = nil) {
        self.store = store
        park = Guarded(store?.loadGate())
    }

    /// nil when a request may be sent at `now`; otherwise the time before which nothing may.
    public func permit(now: Date = Date()) -> Date? {
        state(now: now)?.notBefore
    }

    /// The current park, for the status socket and deferrals. nil when open at `now`.
    public func state(now: Date = Date()) -> GatePark? {
        park.withLock { p in
            guard let p, now < p.notBefore else { return nil }
            return p
        }
    }

    /// Shuts the gate until `until` unless it is already shut for longer.
    public func throttle(until: Date, reason: String, cause: DeferralCause) {
        let next = GatePark(notBefore: until, reason: reason, cause: cause)
        let moved = park.withLock { p -> Bool in
            if let current = p, current.notBefore >= until { return false }
            p = next
            return true
        }
        if moved { store?.saveGate(next) }
    }

    /// Turns a 429 into a not-before time, reason and cause: Retry-After (seconds or
    /// HTTP-date), 30 s when absent, at least `minimumWait`, and at least one hour when the
    /// JSON error body's `reason` is QUOTA_EXCEEDED.
    public static func deferral(retryAfterHeader: String?, body: Data, now: Date)
        -> (until: Date, reason: String, cause: DeferralCause)
    {
        let parsed = RetryAfter.seconds(retryAfterHeader, now: now)
        var wait = max(parsed ?? RetryAfter.defaultDelay, minimumWait)
        let api = APIErrorBody.parse(body, status: 429)
        if api.reason == "QUOTA_EXCEEDED" {
            wait = max(wait, quotaPark)
            return (now.addingTimeInterval(wait),
                    "Spotify quota exceeded (QUOTA_EXCEEDED); parked for \(RetryAfter.wholeSeconds(wait)) s", .quotaExceeded)
        }
        return (now.addingTimeInterval(wait), "rate limited (HTTP 429, Retry-After \(RetryAfter.wholeSeconds(wait)) s)", .rateLimited)
    }
}
