import ETLCore
import FoundationEssentials

/// Where the gate's not-before time survives a restart. The daemon backs this with the state
/// DB, so a `kill -9` during a one-hour quota park does not let the next process send early.
public protocol GateStore: AnyObject, Sendable {
    func loadGate() -> (notBefore: Date, reason: String)?
    func saveGate(notBefore: Date, reason: String)
}

/// A process-local store, for tests and for `--once` runs that need no persistence.
public final class InMemoryGateStore: GateStore, @unchecked Sendable {
    private let lock = Lock()
    private var value: (Date, String)?
    public private(set) var saveCount = 0

    public init(notBefore: Date? = nil, reason: String = "") {
        if let notBefore { value = (notBefore, reason) }
    }

    public func loadGate() -> (notBefore: Date, reason: String)? {
        lock.lock(); defer { lock.unlock() }
        return value.map { (notBefore: $0.0, reason: $0.1) }
    }

    public func saveGate(notBefore: Date, reason: String) {
        lock.lock(); defer { lock.unlock() }
        value = (notBefore, reason)
        saveCount += 1
    }
}

/// The one rate-limit gate shared by every worker. Spotify's limit is per app, so a 429 seen
/// by one worker must stop all of them: each checks `permit` before sending and, when shut,
/// hands a deferral back to the scheduler instead of sleeping.
///
/// The not-before time only ever moves later (a short Retry-After from one worker must not
/// cut short a quota park recorded by another) and is written through to the store.
public final class RateGate: @unchecked Sendable {
    /// A 429 whose body says `QUOTA_EXCEEDED` parks the app at least this long.
    public static let quotaPark: Double = 3600
    /// Floor for any 429 wait: a `Retry-After: 0` must not become a tight retry loop.
    public static let minimumWait: Double = 1

    private let lock = Lock()
    private var notBefore: Date?
    private var reason = ""
    private let store: GateStore?

    public init(store: GateStore? = nil) {
        self.store = store
        if let saved = store?.loadGate() {
            notBefore = saved.notBefore
            reason = saved.reason
        }
    }

    /// nil when a request may be sent at `now`; otherwise the time before which nothing may.
    public func permit(now: Date = Date()) -> Date? {
        lock.lock(); defer { lock.unlock() }
        guard let nb = notBefore, now < nb else { return nil }
        return nb
    }

    /// The current closure, for the status socket. nil when open at `now`.
    public func state(now: Date = Date()) -> (notBefore: Date, reason: String)? {
        lock.lock(); defer { lock.unlock() }
        guard let nb = notBefore, now < nb else { return nil }
        return (nb, reason)
    }

    /// Shuts the gate until `until` unless it is already shut for longer.
    public func throttle(until: Date, reason: String) {
        lock.lock()
        if let nb = notBefore, nb >= until { lock.unlock(); return }
        notBefore = until
        self.reason = reason
        lock.unlock()
        store?.saveGate(notBefore: until, reason: reason)
    }

    /// Turns a 429 into a not-before time and reason: Retry-After (seconds or HTTP-date),
    /// 30 s when absent, at least `minimumWait`, and at least one hour for QUOTA_EXCEEDED.
    public static func deferral(retryAfterHeader: String?, body: Data, now: Date) -> (until: Date, reason: String) {
        let parsed = RetryAfter.seconds(retryAfterHeader, now: now)
        var wait = max(parsed ?? RetryAfter.defaultDelay, minimumWait)
        let api = APIErrorBody.parse(body, status: 429)
        var reason = "rate limited (HTTP 429, Retry-After \(Int(wait.rounded(.up))) s)"
        if api.reason == "QUOTA_EXCEEDED" {
            wait = max(wait, quotaPark)
            reason = "Spotify quota exceeded (QUOTA_EXCEEDED); parked for \(Int(wait.rounded(.up))) s"
        }
        return (now.addingTimeInterval(wait), reason)
    }
}
