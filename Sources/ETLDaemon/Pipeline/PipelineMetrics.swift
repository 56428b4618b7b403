import CoreMetrics
import FoundationEssentials

/// The pipeline's metrics, by the names the EMF documents and the CloudWatch alarms use.
/// swift-metrics handles: whatever backend is bootstrapped (EMF in the daemon, none in tests)
/// receives them.
public struct PipelineMetrics: Sendable {
    let playlistsPolled = Counter(label: "PlaylistsPolled")
    let playlistsChanged = Counter(label: "PlaylistsChanged")
    let apiThrottled = Counter(label: "ApiThrottled")
    let apiErrors = Counter(label: "ApiErrors")
    let rowsExtracted = Counter(label: "RowsExtracted")
    let rowsRejected = Counter(label: "RowsRejected")
    let batchesSealed = Counter(label: "BatchesSealed")
    let batchesUploaded = Counter(label: "BatchesUploaded")
    let uploadFailures = Counter(label: "UploadFailures")
    let bytesUploaded = Counter(label: "BytesUploaded")
    let batchesQuarantined = Counter(label: "BatchesQuarantined")
    let deadLetterBatches = Gauge(label: "DeadLetterBatches")
    let outboxRows = Gauge(label: "OutboxRows")
    let outboxOldestAge = Gauge(label: "OutboxOldestAgeSeconds")
    let pollLag = Gauge(label: "PollLagSeconds")

    public init() {}

    func polled(_ outcome: PollOutcome) {
        playlistsPolled.increment()
        switch outcome {
        case .changed: playlistsChanged.increment()
        case .deferred: apiThrottled.increment()
        case .unavailable: apiErrors.increment()
        case .failed(let f):
            // Storage failures are the state database's, not the API's.
            if !f.isStorage { apiErrors.increment() }
        case .unchanged: break
        }
    }

    func extracted(rows: Int, rejected: Int) {
        rowsExtracted.increment(by: Int64(rows))
        rowsRejected.increment(by: Int64(rejected))
    }

    func sealed(_ n: Int) { if n > 0 { batchesSealed.increment(by: Int64(n)) } }
    func uploaded(bytes: Int) { batchesUploaded.increment(); bytesUploaded.increment(by: Int64(bytes)) }
    func uploadFailed() { uploadFailures.increment() }
    func quarantined() { batchesQuarantined.increment() }
    func deadLetters(_ count: Int) { deadLetterBatches.record(Double(count)) }
    func outbox(rows: Int, oldestAge: Double) { outboxRows.record(Double(rows)); outboxOldestAge.record(oldestAge) }
    func lag(_ seconds: Double) { pollLag.record(max(0, seconds)) }
}
