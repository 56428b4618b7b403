import ETLCore
import ETLHealth
import FoundationEssentials
import Dispatch
import ServiceLifecycle
import Synchronization

/// Retries artist enrichment that failed earlier (`EnrichmentSweep`), every `every` seconds on
/// its own queue, so slow per-id fetches never hold up uploads or polls. Busy while a sweep
/// runs, alive while its requests move.
final class EnrichmentService: Service, Sendable {
    private let sweep: EnrichmentSweep
    private let activity: ActivityTransport
    private let deadline: Double
    private let every: Double
    private let queue = DispatchQueue(label: "spotifyd-etl.enrichment")
    private let running = Atomic<Bool>(false)
    private let timer = Guarded<DispatchSourceTimer?>(nil)

    init(sweep: EnrichmentSweep, activity: ActivityTransport, requestTimeout: Double, every: Double = 600, firstAfter: Double = 60) {
        self.sweep = sweep
        self.activity = activity
        self.deadline = requestTimeout + 15
        self.every = every
        self.firstAfter = firstAfter
    }
    private let firstAfter: Double

    func run() async throws {
        timer.withLock { current in
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + firstAfter, repeating: every, leeway: .seconds(1))
            t.setEventHandler { [weak self] in
                guard let self else { return }
                self.running.store(true, ordering: .relaxed)
                self.sweep.run()
                self.running.store(false, ordering: .relaxed)
            }
            t.resume()
            current = t
        }
        try? await gracefulShutdown()
        timer.withLock { t in t?.cancel(); t = nil }
        // A sweep in flight finishes on its queue; it commits in one transaction or not at all.
    }

    func liveness() -> Liveness {
        guard running.load(ordering: .relaxed) else { return .idle }
        return .busy(secondsSinceProgress: activity.secondsSinceActivity, deadline: deadline, doing: "artist enrichment")
    }
}
