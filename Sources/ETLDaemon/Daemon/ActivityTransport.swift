import ETLHTTP
import Foundation

/// Wraps the HTTP transport to remember when the last request finished (success or failure).
/// The watchdog uses it to tell a slow-but-moving scan from a wedged call: polls in flight
/// with no HTTP activity for longer than the request timeout mean something is stuck.
public final class ActivityTransport: HTTPTransport, @unchecked Sendable {
    private let inner: HTTPTransport
    private let lock = NSLock()
    private var last = Date()

    public init(_ inner: HTTPTransport) { self.inner = inner }

    public var lastActivity: Date {
        lock.lock(); defer { lock.unlock() }
        return last
    }

    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        defer { lock.lock(); last = Date(); lock.unlock() }
        return try inner.send(request)
    }
}
