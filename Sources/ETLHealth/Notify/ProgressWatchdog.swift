import Dispatch
import ETLCore
import FoundationEssentials
import Synchronization

/// What a component says of itself when the watchdog asks.
public enum Liveness: Sendable, Equatable {
    /// Nothing to do; waiting for an event or its own timer.
    case idle
    /// Waiting on purpose until a known time (Retry-After, an upload backoff).
    case parked(until: Date)
    /// Working. Alive while `secondsSinceProgress <= deadline`; stuck past it.
    /// Progress = a page read, a commit, bytes moved on an upload.
    case busy(secondsSinceProgress: Double, deadline: Double, doing: String)
}

/// One component's state at the moment of a decision. Plain data, so the decision is a pure
/// function of it.
public struct WatchdogReading: Sendable, Equatable {
    public var name: String
    /// What the component's probe answered.
    public var liveness: Liveness
    /// When the heartbeat submitted to the component's queue was submitted, if it has not run
    /// yet; nil when it ran or the component has no queue.
    public var heartbeatPendingSince: Date?

    public init(name: String, liveness: Liveness, heartbeatPendingSince: Date? = nil) {
        self.name = name
        self.liveness = liveness
        self.heartbeatPendingSince = heartbeatPendingSince
    }
}

/// The outcome of one watchdog evaluation. Only `.healthy` results in a WATCHDOG=1 ping.
public enum WatchdogVerdict: Sendable, Equatable {
    case healthy
    /// Working without progress past its own deadline since `since`, or parked past the end
    /// of its park (plus slack) since the park should have ended. `doing` is what the
    /// component said it was doing.
    case stalled(component: String, since: Date, doing: String)
    /// The component's queue has not run the heartbeat submitted to it at `since`: the queue
    /// no longer runs work (deadlocked, or blocked in a call that never returns).
    case unresponsive(component: String, since: Date)
    /// Watchdog not requested by systemd.
    case disabled

    /// Short form for `status` output and STATUS=: "ok", "stalled: flusher since 12:03Z".
    public var description: String {
        switch self {
        case .healthy: return "ok"
        case .disabled: return "disabled"
        case .stalled(let c, let since, _): return "stalled: \(c) since \(Self.hhmm(since))"
        case .unresponsive(let c, let since): return "unresponsive: \(c) since \(Self.hhmm(since))"
        }
    }

    static func hhmm(_ d: Date) -> String {
        let iso = Timestamp.iso(d)  // YYYY-MM-DDTHH:MM:SSZ
        let start = iso.index(iso.startIndex, offsetBy: 11)
        let end = iso.index(start, offsetBy: 5)
        return String(iso[start..<end]) + "Z"
    }
}

/// Counters for `status`: whether systemd is really getting its pings, and how close the
/// daemon came to missing one.
public struct WatchdogStats: Sendable, Equatable {
    /// WATCHDOG_USEC in seconds; nil when the watchdog is disabled.
    public var intervalS: Double?
    /// WATCHDOG=1 datagrams delivered to the service manager since start.
    public var pings: Int
    public var lastPingAt: Date?
    /// Largest gap between consecutive delivered pings since start (the first gap is measured
    /// from `start()`), on CLOCK_MONOTONIC like systemd's own timeout.
    public var maxGapS: Double

    public init(intervalS: Double?, pings: Int = 0, lastPingAt: Date? = nil, maxGapS: Double = 0) {
        self.intervalS = intervalS
        self.pings = pings
        self.lastPingAt = lastPingAt
        self.maxGapS = maxGapS
    }
}

/// What the watchdog tells its observer (see `ProgressWatchdog.observe`).
public enum WatchdogEvent: Sendable, Equatable {
    /// Pings stop (or now stop for another component): systemd restarts the service once
    /// WATCHDOG_USEC passes without one.
    case withheld(WatchdogVerdict)
    /// Pings resume after being withheld for `after`.
    case resumed(after: WatchdogCondition)
    /// A healthy tick's ping could not be sent to NOTIFY_SOCKET.
    case undeliverable
    /// Pings reach NOTIFY_SOCKET again.
    case deliveryRestored
    /// A ping went out `gapS` seconds after the previous one, more than 3/4 of `intervalS`.
    case late(gapS: Double, intervalS: Double)
}

public typealias VerdictObserver = @Sendable (WatchdogEvent) -> Void

/// A verdict without its times and details: what changes when the reason for withholding
/// pings changes, so the observer hears once per episode, not once per tick.
public enum WatchdogCondition: Sendable, Equatable {
    case healthy
    case stalled(component: String)
    case unresponsive(component: String)

    init(_ v: WatchdogVerdict) {
        switch v {
        case .healthy, .disabled: self = .healthy
        case .stalled(let c, _, _): self = .stalled(component: c)
        case .unresponsive(let c, _): self = .unresponsive(component: c)
        }
    }
}

/// Pings systemd's watchdog only while no registered component is stuck.
///
/// WHY: a timer that pings unconditionally proves only that one timer thread is alive, while
/// the point of `WatchdogSec=` is to get a stuck daemon restarted. But "no progress within
/// the watchdog interval" is the wrong test: an idle component legitimately does nothing for
/// hours, and a slow upload legitimately takes longer than the interval. So each component
/// answers a probe saying what it is doing (idle, parked until a time, or busy with its own
/// progress deadline), and the watchdog — pull model, on its own queue, never waiting on a
/// component — pings every interval/2 unless a component is busy past its deadline, parked
/// past the end of its park, or (for a registered queue) no longer running submitted work.
public final class ProgressWatchdog: Sendable {
    /// Pure decision over the readings; the first unhealthy component by name order wins, so
    /// the verdict is deterministic.
    ///  - heartbeat pending longer than `queueDeadline` → unresponsive since it was submitted
    ///    (checked first: a queue that runs nothing makes the component's own answer moot);
    ///  - `.idle` → healthy;
    ///  - `.parked(until)` → healthy unless `now > until + parkSlack`, then stalled since `until`;
    ///  - `.busy(s, d, doing)` → healthy while `s <= d`, else stalled since `now - s`.
    public static func decide(_ readings: [WatchdogReading], now: Date, queueDeadline: Double,
                              parkSlack: Double) -> WatchdogVerdict {
        for r in readings.sorted(by: { $0.name < $1.name }) {
            if let pending = r.heartbeatPendingSince, now.timeIntervalSince(pending) > queueDeadline {
                return .unresponsive(component: r.name, since: pending)
            }
            switch r.liveness {
            case .idle:
                continue
            case .parked(let until):
                if now.timeIntervalSince(until) > parkSlack {
                    return .stalled(component: r.name, since: until, doing: "parked until \(Timestamp.iso(until))")
                }
            case .busy(let s, let d, let doing):
                if s > d { return .stalled(component: r.name, since: now.addingTimeInterval(-s), doing: doing) }
            }
        }
        return .healthy
    }

    /// Timer period and leeway for a watchdog interval: systemd recommends pinging at half the
    /// interval; the leeway is 5% of the period so coalescing never eats the safety margin.
    static func timing(for interval: Duration) -> (period: Duration, leeway: Duration) {
        let period = interval / 2
        return (period, period / 20)
    }

    private struct Component {
        var queue: DispatchQueue?
        var probe: @Sendable () -> Liveness
        /// Submission time of the heartbeat that has not run yet.
        var pendingSince: Date?
        /// Identifies the pending heartbeat, so one submitted before a re-registration cannot
        /// clear the new registration's pending mark.
        var pendingToken: UInt64 = 0
    }

    private struct State {
        var components: [String: Component] = [:]
        var verdict: WatchdogVerdict
        var timer: DispatchSourceTimer?
        var nextToken: UInt64 = 0
        var pings = 0
        var lastPingAt: Date?
        /// CLOCK_MONOTONIC µs of the last delivered ping, or of `start()` before the first.
        var lastPingMono: UInt64?
        var maxGapS: Double = 0
        var observer: VerdictObserver?
        /// The condition last reported to the observer (healthy until told otherwise).
        var reported: WatchdogCondition = .healthy
        /// Whether the last healthy tick failed to deliver its ping.
        var undelivered = false
    }

    private let state: Guarded<State>
    private let timerQueue = DispatchQueue(label: "spotifyd-etl.watchdog")
    private let notifier: SystemdNotifier
    private let clock: Clock
    /// Interval systemd expects pings within; nil = disabled.
    public let interval: Duration?
    /// Seconds a heartbeat may wait on a registered queue before the queue counts as unresponsive.
    public let queueDeadline: Double
    /// Seconds past the end of a park before the park counts as stuck.
    public let parkSlack: Double

    /// Interval from the environment (WATCHDOG_USEC / WATCHDOG_PID via `sd_watchdog_enabled`);
    /// disabled when systemd did not ask for a watchdog.
    public convenience init(notifier: SystemdNotifier = SystemdNotifier(), clock: Clock = SystemClock()) {
        self.init(interval: notifier.watchdogInterval(), notifier: notifier, clock: clock)
    }

    /// Explicit interval (nil = disabled), for tests and for callers that already read it.
    public init(interval: Duration?, notifier: SystemdNotifier = SystemdNotifier(), clock: Clock = SystemClock(),
                queueDeadline: Double = 10, parkSlack: Double = 30) {
        self.notifier = notifier
        self.clock = clock
        self.interval = interval
        self.queueDeadline = queueDeadline
        self.parkSlack = parkSlack
        self.state = Guarded(State(verdict: interval == nil ? .disabled : .healthy))
    }

    deinit { state.withLock { $0.timer?.cancel() } }

    /// `probe` runs on the watchdog's own queue at every tick and must never block (read a
    /// lock, no I/O): the ping waits for every probe.
    /// With `queue`, each tick also submits a no-op heartbeat to that serial queue (at most one
    /// pending at a time); a heartbeat still pending after `queueDeadline` seconds makes the
    /// verdict `.unresponsive` (a queue that no longer runs work). Register only queues that
    /// never do blocking work: a slow upload on the queue would read as a dead queue.
    /// Registering a name again replaces the earlier registration.
    public func register(_ name: String, queue: DispatchQueue? = nil, probe: @escaping @Sendable () -> Liveness) {
        state.withLock { $0.components[name] = Component(queue: queue, probe: probe) }
    }

    /// Told on the watchdog's queue whenever a ping is withheld for a new reason, pings resume,
    /// a ping could not be delivered, or a ping went out later than 3/4 of the interval after
    /// the previous one (the process was starved or the timer delayed: systemd kills at the full
    /// interval). WHY: systemd only logs "Watchdog timeout"; this is the daemon's own account of
    /// which component held the pings back, for `journalctl`. Must not block.
    public func observe(_ observer: @escaping VerdictObserver) {
        state.withLock { $0.observer = observer }
    }

    public func unregister(_ name: String) {
        state.withLock { $0.components[name] = nil }
    }

    /// The last verdict.
    public var verdict: WatchdogVerdict { state.withLock { $0.verdict } }

    /// The last verdict's short form: "ok", "stalled: flusher since 12:03Z", "disabled".
    public var stateDescription: String { verdict.description }

    public var stats: WatchdogStats {
        state.withLock { s in
            WatchdogStats(intervalS: interval.map(\.seconds), pings: s.pings, lastPingAt: s.lastPingAt, maxGapS: s.maxGapS)
        }
    }

    /// Starts ticking at half the watchdog interval on the watchdog's private queue. Does
    /// nothing when disabled; restarts the timer when already running.
    public func start() {
        guard let iv = interval else { return }
        let (period, leeway) = Self.timing(for: iv)
        // Dispatch sources are not Sendable: made, started and cancelled only under the lock.
        state.withLock { s in
            s.timer?.cancel()
            let t = DispatchSource.makeTimerSource(queue: timerQueue)
            t.schedule(deadline: .now() + period.dispatchInterval, repeating: period.dispatchInterval,
                       leeway: leeway.dispatchInterval)
            t.setEventHandler { [weak self] in self?.tick() }
            s.lastPingMono = SystemdNotifier.monotonicMicroseconds()
            t.resume()
            s.timer = t
        }
    }

    public func stop() {
        state.withLock { s in
            s.timer?.cancel()
            s.timer = nil
        }
    }

    /// One evaluation: ask every probe, decide, ping (WATCHDOG=1) only when healthy, then
    /// submit a heartbeat to each registered queue that has none pending (never more than one
    /// per queue, so a blocked queue does not pile them up). Probes run outside the lock so a
    /// probe may read the watchdog's own state.
    @discardableResult
    public func tick() -> WatchdogVerdict {
        guard interval != nil else { return .disabled }
        let snapshot = state.withLock { s in s.components.map { ($0.key, $0.value.probe, $0.value.pendingSince) } }
        let readings = snapshot.map { WatchdogReading(name: $0.0, liveness: $0.1(), heartbeatPendingSince: $0.2) }
        let now = clock.now()
        let verdict = Self.decide(readings, now: now, queueDeadline: queueDeadline, parkSlack: parkSlack)
        let delivered = verdict == .healthy && notifier.watchdogPing()
        let mono = SystemdNotifier.monotonicMicroseconds()
        let limit = interval.map(\.seconds) ?? 0
        var events: [WatchdogEvent] = []
        let (heartbeats, observer): ([(DispatchQueue, String, UInt64)], VerdictObserver?) = state.withLock { s in
            s.verdict = verdict
            let condition = WatchdogCondition(verdict)
            if condition != s.reported {
                events.append(condition == .healthy ? .resumed(after: s.reported) : .withheld(verdict))
                s.reported = condition
            }
            if verdict == .healthy, delivered == s.undelivered {
                s.undelivered = !delivered
                events.append(delivered ? .deliveryRestored : .undeliverable)
            }
            if delivered {
                s.pings += 1
                s.lastPingAt = now
                // Two ticks racing (the timer and a direct call) may record out of order.
                if let last = s.lastPingMono, mono > last {
                    let gap = Double(mono - last) / 1e6
                    s.maxGapS = max(s.maxGapS, gap)
                    if gap > limit * 0.75 { events.append(.late(gapS: gap, intervalS: limit)) }
                }
                s.lastPingMono = max(mono, s.lastPingMono ?? 0)
            }
            var out: [(DispatchQueue, String, UInt64)] = []
            for (name, var c) in s.components {
                guard let q = c.queue, c.pendingSince == nil else { continue }
                s.nextToken += 1
                c.pendingSince = now
                c.pendingToken = s.nextToken
                s.components[name] = c
                out.append((q, name, s.nextToken))
            }
            return (out, s.observer)
        }
        if let observer { for e in events { observer(e) } }
        for (queue, name, token) in heartbeats {
            queue.async { [weak self] in self?.heartbeatRan(name, token: token) }
        }
        return verdict
    }

    private func heartbeatRan(_ name: String, token: UInt64) {
        state.withLock { s in
            guard var c = s.components[name], c.pendingToken == token else { return }
            c.pendingSince = nil
            s.components[name] = c
        }
    }
}

extension Duration {
    /// Nanoseconds for Dispatch timers (saturating; a watchdog interval is far below the limit).
    var dispatchInterval: DispatchTimeInterval {
        let c = components
        let ns = c.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !ns.overflow else { return .never }
        return .nanoseconds(Int(clamping: ns.partialValue &+ c.attoseconds / 1_000_000_000))
    }
}
