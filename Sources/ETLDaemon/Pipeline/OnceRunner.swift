import ETLCore
import FoundationEssentials
import ETLSink
import Dispatch
import Logging

/// `spotifyd-etl run --once`: poll every playlist once (at most `concurrency` in flight),
/// seal and flush everything, and report.
///
/// A deferral no longer than `maxWait` is rescheduled with a Dispatch timer — no thread sleeps
/// on it; a longer one is left for the next run (exit 75). Nothing is lost either way: an
/// uncommitted poll simply runs again.
public final class OnceRunner: @unchecked Sendable {
    public struct Summary: Sendable {
        public var polled = 0
        public var unchanged = 0
        public var changed = 0
        public var rows = 0
        public var rejects = 0
        public var deferred: [String: String] = [:]
        public var unavailable: [String: String] = [:]
        public var failed: [String: String] = [:]
        public var authExpired: String?
        public var flush = Flusher.Result()

        /// 0 all done; 75 some work deferred (nothing lost); 1 some playlists failed for good.
        public var exitCode: Int32 {
            if !unavailable.isEmpty || authExpired != nil { return ExitCode.failure }
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
            if let f = flush.failure { parts.append("upload failed: \(f.description)") }
            return parts.joined(separator: "; ")
        }
    }

    private let poller: PlaylistPoller
    private let flusher: Flusher
    private let concurrency: Int
    private let maxWait: Double
    private let clock: Clock
    private let logger: Logger
    private let sweep: (() -> Void)?

    public init(poller: PlaylistPoller, flusher: Flusher, concurrency: Int, maxWait: Double,
                clock: Clock = SystemClock(), logger: Logger, sweep: (() -> Void)? = nil) {
        self.poller = poller
        self.flusher = flusher
        self.concurrency = max(1, concurrency)
        self.maxWait = maxWait
        self.clock = clock
        self.logger = logger
        self.sweep = sweep
    }

    public func run(playlists: [String]) -> Summary {
        let round = Round(runner: self, playlists: playlists, deadline: clock.now().addingTimeInterval(maxWait))
        round.start()
        round.done.wait()
        sweep?()
        var summary = round.summary
        summary.flush = flusher.flush(force: true)
        return summary
    }

    /// The mutable state of one `--once` round, guarded by its lock. Workers and park timers
    /// report back through `finish`.
    private final class Round: @unchecked Sendable {
        let runner: OnceRunner
        let deadline: Date
        let lock = Lock()
        let done = DispatchSemaphore(value: 0)
        let workers = DispatchQueue(label: "spotifyd-etl.once.workers", attributes: .concurrent)
        let timers = DispatchQueue(label: "spotifyd-etl.once.timers")
        var pending: ArraySlice<String>
        var inFlight = 0
        var summary = Summary()

        init(runner: OnceRunner, playlists: [String], deadline: Date) {
            self.runner = runner
            self.pending = playlists[...]
            self.deadline = deadline
        }

        func start() {
            lock.lock()
            pump()
            lock.unlock()
        }

        /// Starts as much as concurrency allows. Called with `lock` held.
        private func pump() {
            while inFlight < runner.concurrency, let id = pending.popFirst() {
                inFlight += 1
                workers.async { self.finish(id, self.runner.poller.poll(id)) }
            }
            if inFlight == 0 && pending.isEmpty { done.signal() }
        }

        private func finish(_ id: String, _ outcome: PollOutcome) {
            lock.lock()
            defer { lock.unlock() }
            inFlight -= 1
            switch outcome {
            case .deferred(let until, let reason):
                if until <= deadline {
                    // Parked on a timer, not a sleeping thread; it counts as in flight meanwhile.
                    inFlight += 1
                    let delay = max(0, until.timeIntervalSince(runner.clock.now()))
                    timers.asyncAfter(deadline: .now() + delay) {
                        self.workers.async { self.finish(id, self.runner.poller.poll(id)) }
                    }
                } else {
                    summary.polled += 1
                    summary.deferred[id] = "\(reason) until \(Timestamp.iso(until))"
                }
            case .unchanged:
                summary.polled += 1; summary.unchanged += 1
            case .changed(let rows, let rejects, _, _):
                summary.polled += 1; summary.changed += 1; summary.rows += rows; summary.rejects += rejects
            case .unavailable(let status, let message):
                summary.polled += 1; summary.unavailable[id] = "HTTP \(status): \(message)"
            case .failed(let reason):
                summary.polled += 1; summary.failed[id] = reason
            case .authExpired(let message):
                summary.polled += 1; summary.authExpired = message
            }
            pump()
        }
    }
}
