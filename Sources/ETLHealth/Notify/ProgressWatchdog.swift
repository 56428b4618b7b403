import ETLCore
import FoundationEssentials
import Dispatch
import Glibc

/// What the watchdog knows about one component at the moment of a decision. Plain data so the
/// decision is a pure function of it.
public struct WatchdogComponentState: Sendable, Equatable {
    public var name: String
    /// Last completed unit of work (or registration time, which counts as a fresh start).
    public var lastProgress: Date
    /// Set by `idle(_:until:)`: the component is legitimately waiting. `idleUntil == nil`
    /// means "nothing due, waiting for an event"; a date means "parked until then" (e.g. a
    /// Retry-After). Cleared by the next `progress(_:)`.
    public var idle: Bool
    public var idleUntil: Date?
    /// When the heartbeat closure last ran on the component's own queue; nil when the
    /// component has no queue to probe.
    public var lastHeartbeat: Date?

    public init(name: String, lastProgress: Date, idle: Bool = false, idleUntil: Date? = nil, lastHeartbeat: Date? = nil) {
        self.name = name
        self.lastProgress = lastProgress
        self.idle = idle
        self.idleUntil = idleUntil
        self.lastHeartbeat = lastHeartbeat
    }
}

/// The outcome of one watchdog evaluation. Only `.healthy` results in a WATCHDOG=1 ping.
public enum WatchdogVerdict: Sendable, Equatable {
    case healthy
    /// No progress (and no valid idle declaration) since `since`.
    case stalled(component: String, since: Date)
    /// The component's queue did not run the heartbeat closure since `since`: deadlocked or
    /// blocked in a wedged call.
    case unresponsive(component: String, since: Date)
    /// Watchdog not requested by systemd.
    case disabled

    /// Short form for `status` output and STATUS=: "ok", "stalled: flusher since 12:03Z".
    public var description: String {
        switch self {
        case .healthy: return "ok"
        case .disabled: return "disabled"
        case .stalled(let c, let since): return "stalled: \(c) since \(Self.hhmm(since))"
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

/// Pings systemd's watchdog only while every registered component is demonstrably alive.
///
/// WHY: a timer that pings unconditionally proves only that one timer thread is alive. The
/// point of `WatchdogSec=` is to get a stuck daemon restarted, so a ping here requires that
/// (a) each component completed work or declared a legitimate wait within `staleness`, and
/// (b) a heartbeat closure submitted to each component's own queue actually ran, so a
/// deadlocked queue or a call wedged on it stops the pings even if it last reported progress.
public final class ProgressWatchdog: @unchecked Sendable {
    /// Pure decision. A component is healthy when its heartbeat (if probed) ran within
    /// `staleness`, and either it progressed within `staleness`, or it is idle with no
    /// deadline, or idle with a deadline not exceeded by more than `staleness` (a park that
    /// should have ended but did not is a stall). The first unhealthy component, by name,
    /// is reported so the verdict is deterministic.
    public static func decide(components: [WatchdogComponentState], now: Date, staleness: TimeInterval) -> WatchdogVerdict {
        for c in components.sorted(by: { $0.name < $1.name }) {
            if let hb = c.lastHeartbeat, now.timeIntervalSince(hb) > staleness {
                return .unresponsive(component: c.name, since: hb)
            }
            if now.timeIntervalSince(c.lastProgress) <= staleness { continue }
            if c.idle {
                guard let until = c.idleUntil else { continue }
                if now.timeIntervalSince(until) <= staleness { continue }
                return .stalled(component: c.name, since: max(until, c.lastProgress))
            }
            return .stalled(component: c.name, since: c.lastProgress)
        }
        return .healthy
    }

    private struct Entry {
        var state: WatchdogComponentState
        var queue: DispatchQueue?
    }

    private let lock = Lock()
    private var entries: [String: Entry] = [:]
    private var lastVerdict: WatchdogVerdict
    private var timer: DispatchSourceTimer?
    private let timerQueue = DispatchQueue(label: "spotifyd-etl.watchdog")
    private let notifier: SystemdNotifier
    private let clock: Clock
    /// Interval systemd expects pings within; nil = disabled.
    public let interval: Duration?
    /// Maximum age of progress/heartbeat that still counts as alive.
    public let staleness: TimeInterval

    /// Interval from the environment (WATCHDOG_USEC / WATCHDOG_PID via `sd_watchdog_enabled`);
    /// disabled when systemd did not ask for a watchdog.
    /// - Parameter staleness: defaults to the watchdog interval.
    public convenience init(notifier: SystemdNotifier = SystemdNotifier(), staleness: TimeInterval? = nil,
                            clock: Clock = SystemClock()) {
        self.init(interval: notifier.watchdogInterval(), notifier: notifier, staleness: staleness, clock: clock)
    }

    /// Explicit interval (nil = disabled), for tests and for callers that already read it.
    public init(interval: Duration?, notifier: SystemdNotifier = SystemdNotifier(), staleness: TimeInterval? = nil,
                clock: Clock = SystemClock()) {
        self.notifier = notifier
        self.clock = clock
        self.interval = interval
        self.staleness = staleness ?? interval?.seconds ?? 60
        self.lastVerdict = interval == nil ? .disabled : .healthy
    }

    deinit { timer?.cancel() }

    /// Registers a component. With a `queue`, each tick submits a heartbeat closure to it;
    /// pass the serial queue the component does its work on.
    public func register(_ name: String, queue: DispatchQueue? = nil) {
        let now = clock.now()
        lock.lock()
        entries[name] = Entry(state: WatchdogComponentState(name: name, lastProgress: now, lastHeartbeat: queue == nil ? nil : now),
                              queue: queue)
        lock.unlock()
    }

    public func unregister(_ name: String) {
        lock.lock(); entries[name] = nil; lock.unlock()
    }

    /// The component completed a unit of work. Clears any idle declaration.
    public func progress(_ name: String) {
        let now = clock.now()
        lock.lock()
        if var e = entries[name] {
            e.state.lastProgress = now
            e.state.idle = false
            e.state.idleUntil = nil
            entries[name] = e
        }
        lock.unlock()
    }

    /// The component is legitimately waiting (nothing due, or parked until `until`).
    public func idle(_ name: String, until: Date?) {
        let now = clock.now()
        lock.lock()
        if var e = entries[name] {
            e.state.idle = true
            e.state.idleUntil = until
            e.state.lastProgress = now
            entries[name] = e
        }
        lock.unlock()
    }

    /// Current component states (copy), for status and tests.
    public var components: [WatchdogComponentState] {
        lock.lock(); defer { lock.unlock() }
        return entries.values.map(\.state).sorted { $0.name < $1.name }
    }

    /// The last verdict: "ok", "stalled: flusher since 12:03Z", "disabled".
    public var verdict: WatchdogVerdict {
        lock.lock(); defer { lock.unlock() }
        return lastVerdict
    }

    public var stateDescription: String { verdict.description }

    /// Starts ticking at half the watchdog interval. Does nothing when disabled.
    public func start() {
        guard let iv = interval else { return }
        let period = max(iv.seconds / 2, 0.001)
        let t = DispatchSource.makeTimerSource(queue: timerQueue)
        t.schedule(deadline: .now() + period, repeating: period, leeway: .milliseconds(Int(period * 50)))
        t.setEventHandler { [weak self] in self?.tick() }
        lock.lock(); timer = t; lock.unlock()
        t.resume()
    }

    public func stop() {
        lock.lock(); let t = timer; timer = nil; lock.unlock()
        t?.cancel()
    }

    /// One evaluation: decide from the current states, ping when healthy, then probe each
    /// queue so the next tick knows whether it is still responsive. Returns the verdict.
    @discardableResult
    public func tick() -> WatchdogVerdict {
        let now = clock.now()
        lock.lock()
        let states = entries.values.map(\.state)
        let verdict: WatchdogVerdict = interval == nil ? .disabled : Self.decide(components: states, now: now, staleness: staleness)
        lastVerdict = verdict
        let probes = entries.compactMap { (name, e) in e.queue.map { (name, $0) } }
        lock.unlock()
        if verdict == .healthy { notifier.watchdogPing() }
        for (name, queue) in probes {
            queue.async { [weak self] in self?.heartbeat(name) }
        }
        return verdict
    }

    private func heartbeat(_ name: String) {
        let now = clock.now()
        lock.lock()
        if var e = entries[name] { e.state.lastHeartbeat = now; entries[name] = e }
        lock.unlock()
    }
}
