import ETLCore
import FoundationEssentials
import Dispatch
import Glibc
import Logging

/// Every interval, turns the aggregated metrics into EMF documents and logs each as ONE
/// entry whose MESSAGE is the JSON, tagged `spotifyd_emf=1` (journal field SPOTIFYD_EMF=1),
/// so a log shipper can route exactly those entries to CloudWatch Logs, where they become
/// metrics without any PutMetricData calls or AWS credentials in the daemon.
public final class EMFEmitter: @unchecked Sendable {
    public let metrics: EMFMetrics
    public let namespace: String
    public let interval: TimeInterval
    private let logger: Logger  // var-copied in init
    private let queue = DispatchQueue(label: "spotifyd-etl.emf")
    private let lock = Lock()
    private var timer: DispatchSourceTimer?

    public init(metrics: EMFMetrics, namespace: String = EMFEncoder.defaultNamespace, interval: TimeInterval = 60,
                logger: Logger = Logger(label: "spotifyd-etl.metrics")) {
        self.metrics = metrics
        self.namespace = namespace
        self.interval = interval
        var l = logger
        // Metrics must not disappear because the operator lowered verbosity.
        if l.logLevel > .info { l.logLevel = .info }
        self.logger = l
    }

    deinit { timer?.cancel() }

    public func start() {
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(500))
        t.setEventHandler { [weak self] in self?.flushNow() }
        lock.lock(); timer?.cancel(); timer = t; lock.unlock()
        t.resume()
    }

    /// Stops the timer and flushes what accumulated since the last interval (shutdown path).
    public func stop() {
        lock.lock(); let t = timer; timer = nil; lock.unlock()
        t?.cancel()
        flushNow()
    }

    /// Snapshot (resetting counters), encode, log one entry per document. Returns the documents.
    @discardableResult
    public func flushNow() -> [String] {
        let docs = EMFEncoder.encode(metrics.snapshot(reset: true), namespace: namespace)
        for doc in docs {
            logger.info("\(doc)", metadata: [LogBackend.emfMetadataKey: "1"])
        }
        return docs
    }
}
