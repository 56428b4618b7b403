import CoreMetrics
import ETLHTTP
import FoundationEssentials
import ETLCore

/// Wraps the Spotify HTTP transport so every request reports to one `TransferProgress`
/// (bytes moved, through curl's transfer-info callback) and to `finished` when it ends, success
/// or failure. The watchdog uses both to tell a slow-but-moving scan from a wedged call: a
/// request that ends, even by its own timeout, is the retry machinery working.
public final class ActivityTransport: HTTPTransport, Sendable {
    private let inner: HTTPTransport
    /// Bytes moved on any Spotify request.
    public let progress = TransferProgress()
    /// When the last request ended.
    public let finished = ProgressMark()
    /// Every request to Spotify (API and token endpoint), for the `ApiRequests` metric.
    private let requests = Counter(label: "ApiRequests")

    public init(_ inner: HTTPTransport) { self.inner = inner }

    /// Seconds since the last sign of life: bytes moved or a request ended.
    public var secondsSinceActivity: Double { min(progress.secondsSinceLastMove, finished.secondsSince) }

    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        requests.increment()
        var r = request
        if r.progress == nil { r.progress = progress }
        defer { finished.mark() }
        return try inner.send(r)
    }
}
