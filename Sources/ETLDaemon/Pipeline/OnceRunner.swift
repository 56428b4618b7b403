import ETLCore
import FoundationEssentials
import ETLSink
import Dispatch
import Logging
import Synchronization

/// `spotifyd-etl run --once`: poll every playlist once (at most `concurrency` in flight),
/// seal and flush everything, and report.
///
/// A deferral no longer than `maxWait` is rescheduled with a Dispatch timer — no thread sleeps
/// on it; a longer one is left for the next run (exit 75). Nothing is lost either way: an
/// uncommitted poll simply runs again.
public final class OnceRunner: Sendable {
    public struct Summary: Sendable {
        public var polled = 0
        public var unchanged = 0
        public var changed = 0
        public var rows = 0
        public var rejects = 0
        public var deferred: [String: String] = [:]
        public var unavailable: [String: String] = [:]
        public var failed: [String: String] = [:]
        /// Set when the refresh token is dead (`PollFailure.authExpired`).
        public var authExpired: String?
        /// Set when the state database cannot be written (`PollFailure.storage`).
        public var storage: String?
        public var flush = Flusher.Result()

        /// 0 all done; 75 some work deferred (nothing lost); 1 some playlists failed for good,
        /// or a batch was quarantined (its rows wait in the dead-letter directory for an operator).
        public var exitCode: Int32 {
            if !unavailable.isEmpty || authExpired != nil || flush.quarantined > 0 { return ExitCode.failure }
            if !deferred.isEmpty || !failed.isEmpty || flush.failure != nil { return ExitCode.tempFail }
            return ExitCode.ok
        }

        public var line: String {
            var parts = ["polled \(polled) playlists", "\(changed) changed", "\(unchanged) unchanged",
                         "\(rows) rows", "\(rejects) rejects",
                         "\(flush.sealed) batches sealed", "\(flush.uploaded) uploaded"]
            if !deferred.isEmpty { parts.append("deferred: " + deferred.keys.sorted().joined(separator: ",")) }
            if !failed.isEmpty { parts.append("failed (will retry): " + failed.keys.sorted().joined(separator: ",")) }
            if !unavailable.isEmpty {
                parts.append("unavailable: " + unavailable.keys.sorted().map { "\($0) (\(unavailable[$0]!))" }.joined(separator: ", "))
            }
            if let authExpired { parts.append(authExpired) }
            if let storage { parts.append(storage) }
            if let f = flush.failure { parts.append("upload failed: \(f.description)") }
            if flush.quarantined > 0 { parts.append("\(flush.quarantined) batches quarantined (dead-letter directory)") }
            return parts.joined(separator: "; ")
        }
    }

    private let poller: PlaylistPoller
    private let flusher: Flusher
    private let concurrency: Int
    private let maxWait: Double
    private let clock: Clock
    private let logger: Logger
    private let sweep: (@Sendable () -> Void)?
    /// Called after each playlist's poll ends (not for a deferral that is retried in this
    /// run), from a worker: playlists done, playlists in all, items added so far.
    public typealias Progress = @Sendable (_ done: Int, _ total: Int, _ items: Int) -> Void
    private let onProgress: Progress?

    public init(poller: PlaylistPoller, flusher: Flusher, concurrency: Int, maxWait: Double,
                clock: Clock = SystemClock(), logger: Logger, sweep: (@Sendable () -> Void)? = nil,
                onProgress: Progress? = nil) {
        self.onProgress = onProgress
        self.poller = poller
        self.flusher = flusher
        self.concurrency = max(1, concurrency)
        self.maxWait = maxWait
        self.clock = clock
        self.logger = logger
        self.sweep = sweep
    }

    /// Blocks the calling thread until the round is done; call it off Swift's cooperative
    /// pool (`run --once` calls it from a Dispatch queue).
    public func run(playlists: [String]) -> Summary {
        let round = Round(runner: self, playlists: playlists, deadline: clock.now().addingTimeInterval(maxWait))
        round.start()
        round.done.wait()
        sweep?()
        var summary = round.summary
        summary.flush = flusher.flush(force: true)
        return summary
    }

    /// One `--once` round. Workers and park timers report back through `finish`; the mutable
    /// part lives in one mutex.
    private final class Round: Sendable {
        struct Progress {
            var pending: ArraySlice<String>
            var inFlight = 0
            var summary = Summary()
            var items = 0
        }
        let runner: OnceRunner
        let deadline: Date
        let done = DispatchSemaphore(value: 0)
        let workers = DispatchQueue(label: "spotifyd-etl.once.workers", attributes: .concurrent)
        let timers = DispatchQueue(label: "spotifyd-etl.once.timers")
        let progress: Guarded<Progress>
        let total: Int

        init(runner: OnceRunner, playlists: [String], deadline: Date) {
            self.runner = runner
            self.progress = Guarded(Progress(pending: playlists[...]))
            self.total = playlists.count
            self.deadline = deadline
        }

        var summary: Summary { progress.withLock { $0.summary } }

        func start() { progress.withLock { pump(&$0) } }

        /// Starts as much as concurrency allows. Called with the mutex held.
        private func pump(_ p: inout Progress) {
            while p.inFlight < runner.concurrency, let id = p.pending.popFirst() {
                p.inFlight += 1
                workers.async { self.finish(id, self.runner.poller.poll(id)) }
            }
            if p.inFlight == 0 && p.pending.isEmpty { done.signal() }
        }

        private func finish(_ id: String, _ outcome: PollOutcome) {
            let report = progress.withLock { p -> (Int, Int)? in
                let polledBefore = p.summary.polled
                p.inFlight -= 1
                switch outcome {
                case .deferred(let until, let reason, _):
                    if until <= deadline {
                        // Parked on a timer, not a sleeping thread; it counts as in flight meanwhile.
                        p.inFlight += 1
                        let delay = max(0, until.timeIntervalSince(runner.clock.now()))
                        timers.asyncAfter(deadline: .now() + delay) {
                            self.workers.async { self.finish(id, self.runner.poller.poll(id)) }
                        }
                    } else {
                        p.summary.polled += 1
                        p.summary.deferred[id] = "\(reason) until \(Timestamp.iso(until))"
                    }
                case .unchanged:
                    p.summary.polled += 1; p.summary.unchanged += 1
                case .changed(let rows, let rejects, let added, _):
                    p.summary.polled += 1; p.summary.changed += 1; p.summary.rows += rows; p.summary.rejects += rejects
                    p.items += added
                case .unavailable(let status, let message):
                    p.summary.polled += 1; p.summary.unavailable[id] = "HTTP \(status): \(message)"
                case .failed(.authExpired):
                    p.summary.polled += 1; p.summary.authExpired = PollFailure.authExpired.description
                case .failed(let failure):
                    p.summary.polled += 1; p.summary.failed[id] = failure.description
                    if failure.isStorage { p.summary.storage = failure.description }
                }
                pump(&p)
                return p.summary.polled > polledBefore ? (p.summary.polled, p.items) : nil
            }
            if let (done, items) = report { runner.onProgress?(done, total, items) }
        }
    }
}
