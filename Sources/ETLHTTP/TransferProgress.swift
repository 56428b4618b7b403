import Glibc
import Synchronization

/// When bytes last moved on any transfer that reports to it. One per long-lived client
/// (the Spotify transport, the S3 sink); read by the watchdog.
///
/// A watchdog tells a slow-but-moving transfer from a stuck one by `activeTransfers > 0`
/// together with a large `secondsSinceLastMove`. The start of a transfer counts as movement,
/// so a transfer that begins after a long idle spell is not taken for a stuck one before its
/// first bytes had a chance to move.
///
/// Lock-free (atomics), so curl's transfer-info callback never blocks on a reader.
public final class TransferProgress: Sendable {
    /// CLOCK_MONOTONIC nanoseconds of the last movement (or transfer start, or creation).
    private let lastMovedNanos: Atomic<Int>
    private let total = Atomic<Int>(0)
    private let active = Atomic<Int>(0)

    public init() {
        lastMovedNanos = Atomic(TransferProgress.monotonicNanos())
    }

    /// Records that bytes moved now (called from curl's transfer-info callback). A count of
    /// zero or less is not movement and is ignored.
    public func moved(bytes: Int) {
        guard bytes > 0 else { return }
        total.wrappingAdd(bytes, ordering: .relaxed)
        touch()
    }

    /// Monotonic seconds (CLOCK_MONOTONIC) of the last recorded movement; the creation time until the first.
    public var lastMovedMonotonic: Double {
        Double(lastMovedNanos.load(ordering: .relaxed)) / 1e9
    }

    /// Seconds since bytes last moved, by CLOCK_MONOTONIC.
    public var secondsSinceLastMove: Double {
        max(0, Double(TransferProgress.monotonicNanos() - lastMovedNanos.load(ordering: .relaxed)) / 1e9)
    }

    /// Total bytes recorded (up + down).
    public var totalBytes: Int { total.load(ordering: .relaxed) }

    /// Transfers in progress right now (incremented around curl_easy_perform).
    public var activeTransfers: Int { active.load(ordering: .relaxed) }

    /// Runs `body` as one transfer: counted in `activeTransfers` while it runs, and its start
    /// recorded as movement (see the type's contract).
    public func tracking<R>(_ body: () throws -> R) rethrows -> R {
        active.wrappingAdd(1, ordering: .relaxed)
        touch()
        defer { active.wrappingSubtract(1, ordering: .relaxed) }
        return try body()
    }

    /// Concurrent transfers may record out of order; the stamp only ever moves forward.
    private func touch() {
        lastMovedNanos.max(TransferProgress.monotonicNanos(), ordering: .relaxed)
    }

    /// CLOCK_MONOTONIC in nanoseconds (fits an Int for ~292 years of uptime).
    static func monotonicNanos() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int(ts.tv_sec) * 1_000_000_000 + Int(ts.tv_nsec)
    }
}
