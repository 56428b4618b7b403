import ETLCore
import Dispatch
import Synchronization

/// Resumes a continuation exactly once, from whichever of several racing callbacks comes
/// first (a drain that finished vs. its timeout). Later calls are ignored.
final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Guarded<CheckedContinuation<T, Never>?>

    init(_ c: CheckedContinuation<T, Never>) { continuation = Guarded(c) }

    func resume(_ value: T) {
        let c = continuation.withLock { c -> CheckedContinuation<T, Never>? in
            defer { c = nil }
            return c
        }
        c?.resume(returning: value)
    }
}

/// Runs blocking work (curl, SQLite, file I/O) on a Dispatch queue and awaits its result, so
/// it never occupies a thread of Swift's cooperative pool.
func onQueue<T: Sendable>(_ queue: DispatchQueue, _ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in
        queue.async { c.resume(returning: work()) }
    }
}
