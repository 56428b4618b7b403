import ETLCore
import ETLHealth
import ETLHTTP
import ETLSink
import FoundationEssentials
import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// Seals due batches and uploads them, on a timer on its own serial queue. That queue blocks
/// in uploads by design, so the watchdog never probes it; instead the flusher reports what it
/// is doing (`liveness`): idle between ticks, parked while a failed upload backs off, busy
/// while a flush runs — alive as long as the sink moves bytes or a batch is sealed, encoded or
/// delivered within `stuckAfter`.
///
/// Shutdown (after the scheduler drained): cancel the timer, then one final flush of
/// everything. What cannot be uploaded stays in the outbox for the next start.
final class FlusherService: Service, Sendable {
    /// Without progress for this long, a running flush is stuck: an upload is cut by curl's
    /// low-speed limit after `S3UploadPolicy.lowSpeed.seconds` below 1 KB/s, so longer
    /// silence means something below curl (a hung filesystem, a lock) holds the thread.
    static let stuckAfter: Double = 75

    private enum Activity: Equatable {
        case idle
        case parked(until: Date)
        case busy
    }
    private struct State {
        var activity = Activity.idle
        var backoff = FlushBackoff()
        var timer: DispatchSourceTimer?
    }

    let flusher: Flusher
    let queue = DispatchQueue(label: "spotifyd-etl.flusher")
    private let period: Double
    private let board: StatusBoard
    private let logger: Logger
    private let state = Guarded(State())

    init(flusher: Flusher, maxAge: Double, board: StatusBoard, logger: Logger) {
        self.flusher = flusher
        self.period = max(1, min(maxAge / 2, 5))
        self.board = board
        self.logger = logger
    }

    func run() async throws {
        state.withLock { s in
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + period, repeating: period, leeway: .milliseconds(250))
            t.setEventHandler { [weak self] in self?.tick() }
            t.resume()
            s.timer = t
        }
        try? await gracefulShutdown()
        state.withLock { s in s.timer?.cancel(); s.timer = nil }
        logger.info("stopping: final flush")
        let r = await onQueue(queue) { self.flushNow() }
        if let f = r.failure {
            logger.error("final upload failed; batches stay in the outbox: \(f.description)")
        }
    }

    /// How long the flusher waits between attempts now: its tick, or the backoff's last wait
    /// while uploads fail (`status` allows the outbox that much beyond 2 × `max_age`).
    var retryCadence: Double { state.withLock { s in s.backoff.failures > 0 ? s.backoff.lastWait : period } }

    /// For the watchdog's probe: never blocks.
    func liveness() -> Liveness {
        switch state.withLock({ $0.activity }) {
        case .idle: return .idle
        case .parked(let until): return .parked(until: until)
        case .busy:
            let quiet = min(flusher.progress.secondsSince, flusher.sinkProgress.secondsSinceLastMove)
            return .busy(secondsSinceProgress: quiet, deadline: Self.stuckAfter, doing: "flushing batches")
        }
    }

    /// On `queue`. Failed uploads back off (exponentially for transient errors, a slow cadence
    /// for ones an operator must fix); waiting for the next attempt is parked, not a hang.
    private func tick() {
        let now = Date()
        let wait = state.withLock { s -> Date? in
            if let next = s.backoff.nextAttempt, now < next { return next }
            s.activity = .busy
            return nil
        }
        if wait != nil { return }
        flusher.progress.mark()
        let r = flusher.flush(force: false)
        board.flushed(r)
        state.withLock { s in
            if let f = r.failure {
                let delay = s.backoff.failed(kind: f.kind, now: Date())
                s.activity = .parked(until: s.backoff.nextAttempt ?? now)
                logger.warning("upload will be retried in \(Int(delay)) s", metadata: ["error_code": "\(f.code)"])
            } else {
                s.backoff.succeeded()
                s.activity = .idle
            }
        }
    }

    /// `spotifyd-etl flush` and the final flush: seal everything now and upload, waiting for
    /// the result. Blocks; call it on `queue` or from a thread that may block.
    func flushNow() -> Flusher.Result {
        state.withLock { $0.activity = .busy }
        flusher.progress.mark()
        let r = flusher.flush(force: true)
        board.flushed(r)
        state.withLock { s in
            if r.failure == nil { s.backoff.succeeded() }
            s.activity = .idle
        }
        return r
    }
}

/// Retry cadence for failed uploads: exponential with jitter for transient errors (capped at
/// 5 min), a fixed 5 min for errors an operator must fix (credentials, bucket).
struct FlushBackoff {
    var failures = 0
    var nextAttempt: Date?
    var lastWait: Double = 0

    mutating func failed(kind: SinkError.Kind, now: Date) -> Double {
        failures += 1
        let wait: Double
        switch kind {
        case .transient: wait = min(300, Double(1 << min(failures, 9))) * Double.random(in: 0.8...1.2)
        case .needsOperator: wait = 300
        }
        nextAttempt = now.addingTimeInterval(wait)
        lastWait = wait
        return wait
    }

    mutating func succeeded() { failures = 0; nextAttempt = nil }
}
