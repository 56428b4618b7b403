import ETLHealth
import ServiceLifecycle

/// Emits the EMF metric documents every interval. On shutdown (after the final flush, so its
/// upload counts are in) it emits what accumulated since the last interval.
struct MetricsService: Service {
    let emitter: EMFEmitter?

    func run() async throws {
        emitter?.start()
        try? await gracefulShutdown()
        emitter?.stop()
    }
}
