import ETLCore
import FoundationEssentials
import Dispatch
import Logging

/// Runs polls when they are due, at most `concurrency` at a time, on Dispatch timers and a
/// worker queue — never a sleeping thread. A deferred poll (429, quota park) is rescheduled at
/// its not-before time, so a Retry-After of hours costs nothing but a timer.
///
/// All bookkeeping happens on `queue` (serial); polls run on `workers`.
public final class Scheduler: @unchecked Sendable {
    public typealias Poll = @Sendable (String) -> PollOutcome

    public let queue = DispatchQueue(label: "spotifyd-etl.scheduler")
    private let workers = DispatchQueue(label: "spotifyd-etl.workers", attributes: .concurrent)
    private var plan: DuePlan
    private var concurrency: Int
    private let poll: Poll
    private let clock: Clock
    private var timer: DispatchSourceTimer?
    private var stopped = false
    private var inFlight = 0
    private var drained: (() -> Void)?
    /// Called on `queue` after every finished poll (status line, watchdog progress, metrics).
    public var onOutcome: ((String, PollOutcome, _ lag: Double) -> Void)?
    /// Called on `queue` at every tick, whether or not anything was due: proof of life.
    public var onTick: (() -> Void)?

    public init(playlists: [(id: String, interval: Double)], jitter: Double, concurrency: Int,
                clock: Clock = SystemClock(), poll: @escaping Poll) {
        self.plan = DuePlan(jitter: jitter)
        self.concurrency = max(1, concurrency)
        self.poll = poll
        self.clock = clock
        plan.sync(playlists: playlists, now: clock.now())
    }

    public func start() {
        queue.async {
            let t = DispatchSource.makeTimerSource(queue: self.queue)
            // A 1 s tick with leeway: cheap (a scan of due times), robust to clock jumps and
            // suspends, and it keeps the scheduler's liveness visible to the watchdog.
            t.schedule(deadline: .now(), repeating: .seconds(1), leeway: .milliseconds(200))
            t.setEventHandler { [weak self] in self?.tick() }
            self.timer = t
            t.resume()
        }
    }

    /// Applies a reloaded `[schedule]` and playlist list. Runs already in flight finish.
    public func reconfigure(playlists: [(id: String, interval: Double)], jitter: Double, concurrency: Int) {
        queue.async {
            self.plan.jitter = jitter
            self.concurrency = max(1, concurrency)
            self.plan.sync(playlists: playlists, now: self.clock.now())
            self.tick()
        }
    }

    /// `spotifyd-etl poll [ID…]`: due now. Returns the ids that are configured.
    public func pollNow(_ ids: [String]?) -> [String] {
        queue.sync {
            let hit = plan.force(ids)
            queue.async { self.tick() }
            return hit
        }
    }

    /// Stops starting polls; calls `completion` (on `queue`) once in-flight polls finished.
    public func stop(completion: @escaping () -> Void) {
        queue.async {
            self.stopped = true
            self.timer?.cancel()
            self.timer = nil
            if self.inFlight == 0 { completion() } else { self.drained = completion }
        }
    }

    /// In-flight polls; only meaningful on `queue` (e.g. from `onTick`).
    public var inFlightNow: Int { inFlight }

    public func snapshot() -> (plan: DuePlan, inFlight: Int) {
        queue.sync { (plan, inFlight) }
    }

    private func tick() {
        onTick?()
        startDue()
    }

    /// Starts what is due, up to the free capacity. Called on every tick and whenever a poll
    /// finishes, so throughput is bounded by `concurrency` in flight, not by the tick rate.
    private func startDue() {
        guard !stopped else { return }
        let now = clock.now()
        for id in plan.takeDue(now: now, capacity: concurrency - inFlight) {
            let lag = max(0, now.timeIntervalSince(plan.entry(id)?.nextDue ?? now))
            inFlight += 1
            workers.async { [poll] in
                let outcome = poll(id)
                self.queue.async { self.finished(id, outcome, startedAt: now, lag: lag) }
            }
        }
    }

    private func finished(_ id: String, _ outcome: PollOutcome, startedAt: Date, lag: Double) {
        inFlight -= 1
        var retryAt: Date? = nil
        if case .deferred(let until, _) = outcome { retryAt = until }
        plan.finished(id, startedAt: startedAt, retryAt: retryAt)
        onOutcome?(id, outcome, lag)
        if stopped, inFlight == 0, let d = drained { drained = nil; d() }
        startDue()
    }
}
