import ETLCore
import FoundationEssentials
import Dispatch
import Logging
import Synchronization

/// Every interval, turns the aggregated metrics into EMF documents and logs each as ONE
/// entry whose MESSAGE is the JSON, tagged `spotifyd_emf=1` (journal field SPOTIFYD_EMF=1),
/// so a log shipper can route exactly those entries to CloudWatch Logs, where they become
/// metrics without any PutMetricData calls or AWS credentials in the daemon.
public final class EMFEmitter: Sendable {
    public let metrics: EMFMetrics
    public let namespace: String
    public let interval: TimeInterval
    private let logger: Logger  // var-copied in init
    private let queue = DispatchQueue(label: "spotifyd-etl.emf")
    private let timer = Guarded<DispatchSourceTimer?>(nil)

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

    deinit { timer.withLock { $0?.cancel() } }

    public func start() {
        // Dispatch sources are not Sendable: made, started and cancelled only under the lock.
        timer.withLock { current in
            current?.cancel()
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(500))
            t.setEventHandler { [weak self] in self?.flushNow() }
            t.resume()
            current = t
        }
    }

    /// Stops the timer and flushes what accumulated since the last interval (shutdown path).
    public func stop() {
        timer.withLock { current in
            current?.cancel()
            current = nil
        }
        flushNow()
    }

    /// Snapshot (resetting counters), encode, log one entry per document. Returns the documents.
    @discardableResult
    public func flushNow() -> [String] {
        let docs = EMFEncoder.encode(metrics.snapshot(reset: true), namespace: namespace)
        for doc in docs {
            // The tag also gives the journal entry SYSLOG_IDENTIFIER=spotifyd-etl-metrics
            // (`JournalFields.build`): `journalctl -t spotifyd-etl` reads the log without it.
            logger.info("\(doc)", metadata: [LogBackend.emfMetadataKey: "1"])
        }
        return docs
    }
}
