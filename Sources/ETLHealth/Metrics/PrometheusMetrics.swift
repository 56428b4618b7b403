import CoreMetrics
import ETLCore
import Prometheus

/// swift-metrics backend for the `/metrics` endpoint: swift-prometheus's factory and registry,
/// with the names mapped by `PrometheusNames` (the kind of each series decides its suffix,
/// which a plain name sanitizer cannot see). Bootstrapped beside `EMFMetrics` through a
/// `MultiplexMetricsHandler`, so every `Counter(label: "ApiRequests")` feeds both.
///
/// Unlike EMF, Prometheus counters are cumulative (never reset per interval) and the scraper
/// computes rates. Every metric of `MetricNames.required` is registered up front (0), so the
/// scrape names each EMF metric from the start, as the EMF documents do; plus
/// `spotifyd_etl_build_info{version="…"} 1` and `spotifyd_etl_up 1`.
public final class PrometheusMetrics: MetricsFactory, Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    public init(version: String = ETLVersion.string) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // Names arrive already mapped (see below); only dimension names are adjusted here.
        factory.nameAndLabelSanitizer = { name, labels in
            (name, labels.map { (PrometheusNames.labelName($0.0), $0.1) })
        }
        self.factory = factory
        registry.makeGauge(descriptor: MetricNameDescriptor(
            metricName: PrometheusNames.buildInfo, unitName: "",
            helpText: "Always 1; the version label carries the spotifyd-etl version."), labels: [("version", version)]).set(to: 1.0)
        registry.makeGauge(descriptor: MetricNameDescriptor(
            metricName: PrometheusNames.up, unitName: "", helpText: "1 while the daemon serves metrics.")).set(to: 1.0)
        for metric in MetricNames.required {
            switch PrometheusNames.kind(of: metric) {
            case .counter: _ = makeCounter(label: metric, dimensions: [])
            default: _ = makeRecorder(label: metric, dimensions: [], aggregate: false)
            }
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every registered metric.
    public func render() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        registry.emit(into: &buffer)
        return buffer
    }

    // MARK: MetricsFactory

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        factory.makeCounter(label: PrometheusNames.name(for: label, kind: .counter), dimensions: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        factory.makeFloatingPointCounter(label: PrometheusNames.name(for: label, kind: .counter), dimensions: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        factory.makeRecorder(label: PrometheusNames.name(for: label, kind: aggregate ? .histogram : .gauge),
                             dimensions: dimensions, aggregate: aggregate)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        factory.makeMeter(label: PrometheusNames.name(for: label, kind: .gauge), dimensions: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        factory.makeTimer(label: PrometheusNames.name(for: label, kind: .timer), dimensions: dimensions)
    }

    public func destroyCounter(_ handler: any CounterHandler) { factory.destroyCounter(handler) }
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        factory.destroyFloatingPointCounter(handler)
    }
    public func destroyRecorder(_ handler: any RecorderHandler) { factory.destroyRecorder(handler) }
    public func destroyMeter(_ handler: any MeterHandler) { factory.destroyMeter(handler) }
    public func destroyTimer(_ handler: any TimerHandler) { factory.destroyTimer(handler) }
}
