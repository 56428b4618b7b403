import ETLCore
import FoundationEssentials
import Dispatch
import Logging
import Synchronization

/// Runs polls when they are due, at most `concurrency` at a time, on Dispatch timers and a
/// worker queue — never a sleeping thread. A deferred poll (429, quota park) is rescheduled at
/// its not-before time, so a Retry-After of hours costs nothing but a timer.
///
/// Threads: the 1 s tick runs on `queue`, which only does bookkeeping and never blocks (the
/// watchdog probes it); polls, which block in curl and SQLite, run on `workers`. All mutable
/// state sits in one mutex, held only for bookkeeping, never across a poll or a callback.
public final class Scheduler: Sendable {
    /// Runs one poll. `generation` is the config generation whose plan started it (see
    /// `reconfigure`): every poll runs under exactly one plan, the old or the new.
    public typealias Poll = @Sendable (_ id: String, _ generation: Int) -> PollOutcome
    public typealias OutcomeHook = @Sendable (String, PollOutcome, _ lag: Double) -> Void

    public let queue = DispatchQueue(label: "spotifyd-etl.scheduler")
    private let workers = DispatchQueue(label: "spotifyd-etl.workers", attributes: .concurrent)
    private let poll: Poll
    private let clock: Clock

    private struct State {
        var plan: DuePlan
        var concurrency: Int
        var generation = 1
        var stopped = false
        var inFlight = 0
        var drained: (@Sendable () -> Void)?
        var timer: DispatchSourceTimer?
        var onOutcome: OutcomeHook?
        var onTick: (@Sendable () -> Void)?
    }
    private let state: Guarded<State>

    public convenience init(playlists: [(id: String, interval: Double)], jitter: Double, concurrency: Int,
                            clock: Clock = SystemClock(), poll: @escaping @Sendable (String) -> PollOutcome) {
        self.init(playlists: playlists, jitter: jitter, concurrency: concurrency, clock: clock) { id, _ in poll(id) }
    }

    public init(playlists: [(id: String, interval: Double)], jitter: Double, concurrency: Int,
                clock: Clock = SystemClock(), poll: @escaping Poll) {
        var plan = DuePlan(jitter: jitter)
        plan.sync(playlists: playlists, now: clock.now())
        state = Guarded(State(plan: plan, concurrency: max(1, concurrency)))
        self.poll = poll
        self.clock = clock
    }

    /// Called on a worker after every finished poll (status, metrics). Set before `start()`.
    public var onOutcome: OutcomeHook? {
        get { state.withLock { $0.onOutcome } }
        set { state.withLock { $0.onOutcome = newValue } }
    }

    /// Called on `queue` at every tick, whether or not anything was due. Must not block.
    public var onTick: (@Sendable () -> Void)? {
        get { state.withLock { $0.onTick } }
        set { state.withLock { $0.onTick = newValue } }
    }

    public func start() {
        state.withLock { s in
            guard !s.stopped, s.timer == nil else { return }
            let t = DispatchSource.makeTimerSource(queue: queue)
            // A 1 s tick with leeway: cheap (a scan of due times) and robust to clock jumps
            // and suspends.
            t.schedule(deadline: .now(), repeating: .seconds(1), leeway: .milliseconds(200))
            t.setEventHandler { [weak self] in self?.tick() }
            t.resume()
            s.timer = t
        }
    }

    /// Applies a reloaded `[schedule]` and playlist list in one step: a tick sees either the
    /// old plan or the new one. Runs already in flight finish.
    public func reconfigure(playlists: [(id: String, interval: Double)], jitter: Double, concurrency: Int,
                            generation: Int? = nil) {
        let now = clock.now()
        state.withLock { s in
            s.generation = generation ?? s.generation + 1
            s.plan.jitter = jitter
            s.concurrency = max(1, concurrency)
            s.plan.sync(playlists: playlists, now: now)
        }
        queue.async { self.tick() }
    }

    /// `spotifyd-etl poll [ID…]`: due now. Returns the ids that are configured.
    public func pollNow(_ ids: [String]?) -> [String] {
        let hit = state.withLock { $0.plan.force(ids) }
        queue.async { self.tick() }
        return hit
    }

    /// Stops starting polls; calls `completion` once in-flight polls finished (at once when
    /// none is in flight).
    public func stop(completion: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            s.stopped = true
            s.timer?.cancel()
            s.timer = nil
            if s.inFlight == 0 { return true }
            s.drained = completion
            return false
        }
        if now { completion() }
    }

    /// Polls in flight right now.
    public var inFlightNow: Int { state.withLock { $0.inFlight } }

    public func snapshot() -> (plan: DuePlan, inFlight: Int) {
        state.withLock { ($0.plan, $0.inFlight) }
    }

    private func tick() {
        state.withLock { $0.onTick }?()
        startDue()
    }

    /// Starts what is due, up to the free capacity. Called on every tick and whenever a poll
    /// finishes, so throughput is bounded by `concurrency` in flight, not by the tick rate.
    private func startDue() {
        let now = clock.now()
        let (starts, generation) = state.withLock { s -> ([(String, Double)], Int) in
            guard !s.stopped else { return ([], s.generation) }
            let due = s.plan.takeDue(now: now, capacity: s.concurrency - s.inFlight)
            s.inFlight += due.count
            return (due.map { id in (id, max(0, now.timeIntervalSince(s.plan.entry(id)?.nextDue ?? now))) }, s.generation)
        }
        for (id, lag) in starts {
            workers.async { [poll] in
                let outcome = poll(id, generation)
                self.finished(id, outcome, startedAt: now, lag: lag)
            }
        }
    }

    private func finished(_ id: String, _ outcome: PollOutcome, startedAt: Date, lag: Double) {
        var retryAt: Date? = nil
        if case .deferred(let until, _, _) = outcome { retryAt = until }
        let (hook, drained) = state.withLock { s -> (OutcomeHook?, (@Sendable () -> Void)?) in
            s.inFlight -= 1
            s.plan.finished(id, startedAt: startedAt, retryAt: retryAt)
            var d: (@Sendable () -> Void)? = nil
            if s.stopped, s.inFlight == 0 { d = s.drained; s.drained = nil }
            return (s.onOutcome, d)
        }
        hook?(id, outcome, lag)
        drained?()
        queue.async { self.startDue() }
    }
}
