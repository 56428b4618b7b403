import ETLConfig
import ETLHealth
import Logging
import ServiceLifecycle

/// The Prometheus `/metrics` endpoint (`[metrics] listen`). Like the control socket, it is
/// bound when constructed, before the group starts, so a port in use or an address the host
/// does not have is a clear start-up error and READY=1 is only sent once it listens; it keeps
/// answering scrapes during the drain and the final flush, and closes late in the shutdown order.
struct PrometheusService: Service {
    let server: PrometheusServer?

    init(listen: AppConfig.Metrics.Listen?, metrics: PrometheusMetrics?, logger: Logger) throws {
        guard let listen else { server = nil; return }
        guard let metrics else {
            logger.warning("[metrics] listen is set but no Prometheus metrics backend was bootstrapped; not serving /metrics")
            server = nil
            return
        }
        let s = PrometheusServer(host: listen.host, port: listen.port, logger: logger) { metrics.render() }
        try s.start()
        let host = listen.host
        if !(host == "localhost" || host == "::1" || host.hasPrefix("127.")) {
            logger.warning("/metrics listens on \(s.address), which is not loopback: it has no authentication; restrict it with a firewall or IPAddressAllow=")
        }
        logger.info("serving Prometheus metrics on http://\(s.address)/metrics")
        server = s
    }

    func run() async throws {
        try? await gracefulShutdown()
        server?.stop()
    }
}
