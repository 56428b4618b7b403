import CoreMetrics
import ETLHTTP
import FoundationEssentials
import ETLCore

/// Wraps the HTTP transport to remember when the last request finished (success or failure).
/// The watchdog uses it to tell a slow-but-moving scan from a wedged call: polls in flight
/// with no HTTP activity for longer than the request timeout mean something is stuck.
public final class ActivityTransport: HTTPTransport, @unchecked Sendable {
    private let inner: HTTPTransport
    private let lock = Lock()
    private var last = Date()
    /// Every request to Spotify (API and token endpoint), for the `ApiRequests` metric.
    private let requests = Counter(label: "ApiRequests")

    public init(_ inner: HTTPTransport) { self.inner = inner }

    public var lastActivity: Date {
        lock.lock(); defer { lock.unlock() }
        return last
    }

    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        requests.increment()
        defer { lock.lock(); last = Date(); lock.unlock() }
        return try inner.send(request)
    }
}
