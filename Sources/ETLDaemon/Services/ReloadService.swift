import Dispatch
import ServiceLifecycle
import UnixSignals

/// SIGHUP → reload, from a signal stream (no handler runs inside the signal). Each reload runs
/// on a Dispatch queue: it reads a file and touches the scheduler, which may block briefly.
struct ReloadService: Service {
    let reloader: Reloader

    func run() async throws {
        let hups = await UnixSignalsSequence(trapping: .sighup)
        let queue = DispatchQueue(label: "spotifyd-etl.reload")
        for await _ in hups.cancelOnGracefulShutdown() {
            _ = await onQueue(queue) { reloader.reload() }
        }
    }
}
