import ETLConfig
import ETLHealth
import Logging
import Metrics

enum LoggingSetup {
    /// Chooses the log backend once per process: native journal entries when stderr is the
    /// journal (JOURNAL_STREAM matches fd 2), readable `<N>`-prefixed stderr lines otherwise.
    /// Known secrets are redacted by either backend.
    static func bootstrap(level: Logger.Level = .info) -> Logger {
        LogBackend.detect().bootstrap(level: level, secrets: Secrets.load().all)
        return Logger(label: "spotifyd-etl")
    }

    /// Aggregating metrics backend, mirrored as CloudWatch EMF log entries by the daemon; with
    /// `prometheus` (`[metrics] listen` set) also the Prometheus registry behind `/metrics`,
    /// both fed by every swift-metrics handle through one multiplexing factory.
    static func bootstrapMetrics(prometheus: Bool = false) -> (emf: EMFMetrics, prometheus: PrometheusMetrics?) {
        let emf = EMFMetrics()
        guard prometheus else {
            MetricsSystem.bootstrap(emf)
            return (emf, nil)
        }
        let prom = PrometheusMetrics()
        MetricsSystem.bootstrap(MultiplexMetricsHandler(factories: [emf, prom]))
        return (emf, prom)
    }
}
