/// The metric vocabulary shared by the daemon (which records) and the EMF encoder (which
/// must name every one of these in each service-level document, zero when idle, so alarms
/// on "no data" never fire merely because nothing happened).
public enum MetricNames {
    public static let playlistsPolled = "PlaylistsPolled"
    public static let playlistsChanged = "PlaylistsChanged"
    public static let apiRequests = "ApiRequests"
    public static let apiThrottled = "ApiThrottled"
    public static let apiErrors = "ApiErrors"
    public static let rowsExtracted = "RowsExtracted"
    public static let rowsRejected = "RowsRejected"
    public static let batchesSealed = "BatchesSealed"
    public static let batchesUploaded = "BatchesUploaded"
    public static let uploadFailures = "UploadFailures"
    public static let bytesUploaded = "BytesUploaded"
    /// Batches whose rows could not be read or encoded, copied to the dead-letter directory.
    public static let batchesQuarantined = "BatchesQuarantined"
    /// Dead letters present (gauge): an operator must replay or clear them; alarm on > 0.
    public static let deadLetterBatches = "DeadLetterBatches"
    public static let outboxRows = "OutboxRows"
    public static let outboxOldestAgeSeconds = "OutboxOldestAgeSeconds"
    public static let pollLagSeconds = "PollLagSeconds"

    /// Dimension recorded by callers for per-playlist metrics (swift-metrics dimensions).
    public static let playlistDimension = "PlaylistId"
    public static let serviceDimension = "Service"

    /// Every required metric, in document order.
    public static let required: [String] = [
        playlistsPolled, playlistsChanged, apiRequests, apiThrottled, apiErrors, rowsExtracted, rowsRejected,
        batchesSealed, batchesUploaded, uploadFailures, bytesUploaded, outboxRows, outboxOldestAgeSeconds,
        pollLagSeconds, batchesQuarantined, deadLetterBatches,
    ]

    /// Gauges keep their last value across intervals; everything else here is a counter.
    public static let gauges: Set<String> = [outboxRows, outboxOldestAgeSeconds, pollLagSeconds, deadLetterBatches]

    /// CloudWatch unit for a metric name. Extra (non-required) names: `...Seconds` → Seconds,
    /// `...Bytes` → Bytes, `...Milliseconds`/timers → Milliseconds, otherwise Count.
    public static func unit(for name: String) -> EMFUnit {
        switch name {
        case bytesUploaded: return .bytes
        case outboxOldestAgeSeconds, pollLagSeconds: return .seconds
        default:
            if name.hasSuffix("Seconds") { return .seconds }
            if name.hasSuffix("Milliseconds") || name.hasSuffix("Latency") { return .milliseconds }
            if name.hasSuffix("Bytes") { return .bytes }
            return .count
        }
    }
}

/// The subset of CloudWatch units this service uses.
public enum EMFUnit: String, Sendable, Equatable, CaseIterable {
    case count = "Count"
    case seconds = "Seconds"
    case milliseconds = "Milliseconds"
    case bytes = "Bytes"
    case none = "None"
}
