import ETLHealth
import ServiceLifecycle

/// The control socket (`spotifyd-etl status|poll|flush`). The socket is bound before the group
/// starts, so READY=1 is only sent once it listens; it keeps answering `status` during the
/// drain and the final flush, and closes late in the shutdown order.
struct ControlService: Service {
    let server: ControlServer

    func run() async throws {
        try? await gracefulShutdown()
        server.stop()
    }
}
