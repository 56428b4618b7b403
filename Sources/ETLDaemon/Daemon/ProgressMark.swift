import Glibc
import Synchronization

/// When a component last made progress (a page read, a commit, a batch encoded), on the
/// monotonic clock. Written by the worker doing the work, read by the watchdog's probes, which
/// must never block: one atomic, no lock.
public final class ProgressMark: Sendable {
    private let nanos: Atomic<Int64>

    public init() { nanos = Atomic(Self.monotonicNanos()) }

    /// Records progress now.
    public func mark() { nanos.store(Self.monotonicNanos(), ordering: .relaxed) }

    /// Seconds since the last `mark()` (or since creation).
    public var secondsSince: Double {
        Double(Self.monotonicNanos() - nanos.load(ordering: .relaxed)) / 1e9
    }

    static func monotonicNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
