import ETLCore
import Foundation

/// The S3 peers of a test class, one per backend: started in the class's `setUp()`, stopped in
/// its `tearDown()`, so a base class and its per-backend subclass each run against their own.
/// A peer that failed to start is remembered with the error, for `peer(_:)` to report.
public final class SharedS3Peers: Sendable {
    private let peers = Guarded<[S3Backend: any S3TestPeer]>([:])
    private let startErrors = Guarded<[S3Backend: String]>([:])

    public struct NotStarted: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public init() {}

    /// Starts `backend`'s peer with these buckets; a failure is recorded, not thrown.
    public func start(_ backend: S3Backend, buckets: [String]) {
        do {
            let started = try backend.start(buckets: buckets)
            peers.withLock { $0[backend] = started }
        } catch {
            startErrors.withLock { $0[backend] = "\(error)" }
        }
    }

    /// Stops `backend`'s peer, if it runs.
    public func stop(_ backend: S3Backend) {
        let peer = peers.withLock { $0.removeValue(forKey: backend) }
        peer?.stop()
    }

    /// `backend`'s running peer; throws, saying why, when it did not start.
    public func peer(_ backend: S3Backend) throws -> any S3TestPeer {
        if let peer = peers.withLock({ $0[backend] }) { return peer }
        throw NotStarted(description: "\(backend) failed to start: \(startErrors.withLock { $0[backend] } ?? "")")
    }
}
