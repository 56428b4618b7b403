import FoundationEssentials
import Dispatch
import ServiceLifecycle

/// Gives freed heap pages back to the kernel once a burst of polls is over (`HeapTrimmer`),
/// checking every second on its own queue whether any poll is in flight.
struct HeapTrimmerService: Service {
    let trimmer: HeapTrimmer
    let scheduler: Scheduler

    func run() async throws {
        let queue = DispatchQueue(label: "spotifyd-etl.heap-trimmer")
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + 1, repeating: 1, leeway: .milliseconds(200))
        t.setEventHandler { [trimmer, scheduler] in trimmer.tick(busy: scheduler.inFlightNow > 0, now: Date()) }
        t.resume()
        try? await gracefulShutdown()
        t.cancel()
    }
}
