import Dispatch
import Logging
import ServiceLifecycle

/// Polls playlists when they are due. Its liveness: idle with nothing in flight; busy while
/// polls run, alive as long as bytes move, requests end or pages and commits land within the
/// request timeout plus slack.
///
/// Shutdown (first in the daemon's order): stop starting polls, then wait for the polls in
/// flight, at most `drainTimeout` — an abandoned poll has committed nothing and simply runs
/// again after the restart.
struct SchedulerService: Service {
    let scheduler: Scheduler
    let drainTimeout: Double
    let logger: Logger
    /// Runs when shutdown begins (the status line says "stopping").
    let onShutdown: @Sendable () -> Void

    func run() async throws {
        scheduler.start()
        try? await gracefulShutdown()
        onShutdown()
        logger.info("stopping: no new polls; draining \(scheduler.inFlightNow) in flight")
        let drained = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let once = ResumeOnce(c)
            scheduler.stop { once.resume(true) }
            DispatchQueue.global().asyncAfter(deadline: .now() + drainTimeout) { once.resume(false) }
        }
        if !drained {
            logger.warning("abandoning in-flight polls; their work is uncommitted and will be redone")
        }
    }
}
