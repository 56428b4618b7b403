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
    /// Entries waiting for their time, by (eligible at, next due, id). Lazy: a change pushes a
    /// new key and leaves the old one, which `takeDue` drops when it no longer matches the entry.
    private var waiting = MinHeap<DueKey>()
    /// Forced entries not in flight, by (next due, id); also lazy.
    private var forcedQueue = MinHeap<DueKey>()

    /// A queue position. `at` is when the entry may start: its due time, or the end of its park.
    struct DueKey: Comparable, Sendable {
        var at: Date
        var nextDue: Date
        var id: String
        static func < (a: DueKey, b: DueKey) -> Bool { (a.at, a.nextDue, a.id) < (b.at, b.nextDue, b.id) }
    }

    private static func waitingKey(_ e: Entry) -> DueKey {
        DueKey(at: max(e.nextDue, e.parkedUntil ?? .distantPast), nextDue: e.nextDue, id: e.id)
    }

    private static func forcedKey(_ e: Entry) -> DueKey { DueKey(at: e.nextDue, nextDue: e.nextDue, id: e.id) }

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
                    if !e.inFlight {
                        waiting.push(Self.waitingKey(e))
                        if e.forced { forcedQueue.push(Self.forcedKey(e)) }
                    }
                }
                next[p.id] = e
            } else {
                let spread = min(p.interval * jitter, 5.0) * Double(i % 50) / 50.0
                let e = Entry(id: p.id, interval: p.interval, nextDue: now.addingTimeInterval(spread))
                next[p.id] = e
                waiting.push(Self.waitingKey(e))
            }
        }
        entries = next
        compactIfSparse()
    }

    /// Rebuilds the queues when stale keys outnumber live entries (removed playlists, or many
    /// changes before their old keys came due), so memory stays proportional to the playlists.
    private mutating func compactIfSparse() {
        guard waiting.count + forcedQueue.count > 4 * entries.count + 64 else { return }
        waiting = MinHeap(entries.values.filter { !$0.inFlight }.map(Self.waitingKey))
        forcedQueue = MinHeap(entries.values.filter { !$0.inFlight && $0.forced }.map(Self.forcedKey))
    }

    /// Playlists to start now, at most `capacity`: forced ones first, oldest due first; then the
    /// rest in the order they became startable (their due time, or the end of their park).
    /// Marks them in flight. O(k log n) for k started (plus stale keys dropped on the way).
    ///
    /// Forced entries are ordered by their own due time too, not by id: `spotifyd-etl poll`
    /// repeated faster than a full round completes must not keep re-running the same
    /// low-id playlists while the others starve (found by scripts/chaos).
    public mutating func takeDue(now: Date, capacity: Int) -> [String] {
        guard capacity > 0 else { return [] }
        var out: [String] = []
        while out.count < capacity, let k = forcedQueue.min {
            forcedQueue.pop()
            guard let e = entries[k.id], e.forced, !e.inFlight, k.nextDue == e.nextDue else { continue }
            start(k.id, into: &out)
        }
        while out.count < capacity, let k = waiting.min, k.at <= now {
            waiting.pop()
            guard let e = entries[k.id], !e.inFlight, !e.forced, Self.waitingKey(e) == k else { continue }
            start(k.id, into: &out)
        }
        return out
    }

    private mutating func start(_ id: String, into out: inout [String]) {
        entries[id]?.inFlight = true
        entries[id]?.forced = false
        out.append(id)
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
        waiting.push(Self.waitingKey(e))
        if e.forced { forcedQueue.push(Self.forcedKey(e)) }
        compactIfSparse()
    }

    /// `spotifyd-etl poll`: due now, ignoring cadence but not a rate-limit park (the gate
    /// still applies when it runs).
    public mutating func force(_ ids: [String]?) -> [String] {
        let targets = ids ?? Array(entries.keys)
        var hit: [String] = []
        for id in targets {
            guard var e = entries[id] else { continue }
            hit.append(id)
            guard !e.forced else { continue }  // already queued
            e.forced = true
            entries[id] = e
            if !e.inFlight { forcedQueue.push(Self.forcedKey(e)) }
        }
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

