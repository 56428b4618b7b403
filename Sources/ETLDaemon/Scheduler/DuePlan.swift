import ETLCore
import FoundationEssentials

/// When each playlist is next due. Pure: the scheduler's timer asks it what to start, and tests
/// drive it with plain dates.
///
/// Missed ticks never stampede: a playlist's next due time is computed from when its last run
/// *started*, not by adding intervals to an old due time, so after a suspend or a long stall each
/// overdue playlist runs once and then returns to its cadence.
public struct DuePlan: Sendable {
    public struct Entry: Sendable, Equatable {
        public var id: String
        public var interval: Double
        public var nextDue: Date
        /// A 429/quota park or a deferral: not started before this, whatever `nextDue` says.
        public var parkedUntil: Date?
        public var inFlight = false
        public var forced = false
    }

    public private(set) var entries: [String: Entry] = [:]
    public var jitter: Double
    private var rng: SplitMix64

    public init(jitter: Double, seed: UInt64 = UInt64(UInt32.random(in: 0...UInt32.max))) {
        self.jitter = jitter
        self.rng = SplitMix64(seed: seed)
    }

    /// Adds new playlists (due now, spread over a small window so a start-up with hundreds of
    /// playlists does not burst), updates intervals of known ones, and drops removed ones.
    public mutating func sync(playlists: [(id: String, interval: Double)], now: Date) {
        var next: [String: Entry] = [:]
        for (i, p) in playlists.enumerated() {
            if var e = entries[p.id] {
                if e.interval != p.interval {
                    e.nextDue = min(e.nextDue, now.addingTimeInterval(jittered(p.interval)))
                    e.interval = p.interval
                }
                next[p.id] = e
            } else {
                let spread = min(p.interval * jitter, 5.0) * Double(i % 50) / 50.0
                next[p.id] = Entry(id: p.id, interval: p.interval, nextDue: now.addingTimeInterval(spread))
            }
        }
        entries = next
    }

    /// Playlists to start now, at most `capacity`: forced ones first, then the rest; within
    /// each group oldest due first. Marks them in flight.
    ///
    /// Forced entries are ordered by their own due time too, not by id: `spotifyd-etl poll`
    /// repeated faster than a full round completes must not keep re-running the same
    /// low-id playlists while the others starve (found by scripts/chaos).
    public mutating func takeDue(now: Date, capacity: Int) -> [String] {
        guard capacity > 0 else { return [] }
        let due = entries.values
            .filter { !$0.inFlight && ($0.forced || ($0.nextDue <= now && ($0.parkedUntil ?? .distantPast) <= now)) }
            .sorted { ($0.forced ? 0 : 1, $0.nextDue, $0.id) < ($1.forced ? 0 : 1, $1.nextDue, $1.id) }
            .prefix(capacity)
        for e in due { entries[e.id]?.inFlight = true; entries[e.id]?.forced = false }
        return due.map(\.id)
    }

    /// A run finished. `startedAt` anchors the cadence; `retryAt` (a deferral) overrides it.
    public mutating func finished(_ id: String, startedAt: Date, retryAt: Date? = nil) {
        guard var e = entries[id] else { return }
        e.inFlight = false
        e.nextDue = startedAt.addingTimeInterval(jittered(e.interval))
        if let retryAt {
            e.parkedUntil = retryAt
            e.nextDue = min(e.nextDue, retryAt)
        } else {
            e.parkedUntil = nil
        }
        entries[id] = e
    }

    /// `spotifyd-etl poll`: due now, ignoring cadence but not a rate-limit park (the gate
    /// still applies when it runs).
    public mutating func force(_ ids: [String]?) -> [String] {
        let targets = ids ?? Array(entries.keys)
        var hit: [String] = []
        for id in targets where entries[id] != nil { entries[id]!.forced = true; hit.append(id) }
        return hit
    }

    /// The earliest instant anything could start, for arming the timer.
    public func nextWake(now: Date) -> Date? {
        entries.values.filter { !$0.inFlight }
            .map { $0.forced ? now : max($0.nextDue, $0.parkedUntil ?? .distantPast) }
            .min()
    }

    public func entry(_ id: String) -> Entry? { entries[id] }

    private mutating func jittered(_ interval: Double) -> Double {
        guard jitter > 0 else { return interval }
        let u = Double(rng.next() % 1_000_000) / 1_000_000.0 * 2 - 1
        return max(1, interval * (1 + jitter * u))
    }
}

