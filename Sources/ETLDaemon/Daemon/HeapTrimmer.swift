import ETLCore
import FoundationEssentials
import Synchronization

/// Gives freed heap pages back to the kernel once a burst of polls is over.
///
/// Why: a poll cycle parses pages and builds rows, then frees them all; glibc keeps the freed
/// pages mapped for reuse, so a daemon that polls every few minutes would sit at its burst
/// high-water mark all day. `malloc_trim(0)` releases whole free pages (top of heap and, since
/// glibc 2.8, free pages inside it). It is called when the scheduler has had nothing in flight
/// for `quietSeconds`, at most once per burst, so it costs one call per cycle, never one per
/// poll. Together with a single malloc arena (set at start-up) this keeps steady RSS flat.
public final class HeapTrimmer: Sendable {
    public typealias Trim = @Sendable () -> Void
    private struct State {
        var lastBusy = Date.distantPast
        var trimmedAfterLastBusy = true
        var trims = 0
    }
    private let quietSeconds: Double
    private let trim: Trim
    private let state = Guarded(State())

    public init(quietSeconds: Double = 2, trim: @escaping Trim = HeapTrimmer.glibcTrim) {
        self.quietSeconds = quietSeconds
        self.trim = trim
    }

    /// How many times it trimmed.
    public var trims: Int { state.withLock { $0.trims } }

    /// Called every second by `HeapTrimmerService`. `busy` is whether any poll is in flight.
    public func tick(busy: Bool, now: Date) {
        let due = state.withLock { s -> Bool in
            if busy {
                s.lastBusy = now
                s.trimmedAfterLastBusy = false
                return false
            }
            guard !s.trimmedAfterLastBusy, now.timeIntervalSince(s.lastBusy) >= quietSeconds else { return false }
            s.trimmedAfterLastBusy = true
            s.trims += 1
            return true
        }
        if due { trim() }
    }

    /// glibc's `malloc_trim(0)`, then the clean code pages touched since the last trim
    /// (`CleanPageTrimmer`).
    public static let glibcTrim: Trim = {
        _ = glibcMallocTrim(0)
        CleanPageTrimmer.trim()
    }
}

/// glibc's `malloc_trim` and `mallopt` (declared in <malloc.h>, which the Glibc module does
/// not export).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32

@_silgen_name("mallopt")
private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32

public enum MallocTuning {
    /// `M_ARENA_MAX` from glibc's <malloc.h>.
    private static let arenaMax: Int32 = -8

    /// One malloc arena for the whole daemon. glibc otherwise gives each allocating thread its
    /// own arena (up to 8 per core) and Dispatch's worker threads come and go; each arena keeps
    /// its own free pages. The daemon's threads rarely allocate at the same moment, so the
    /// shared lock costs nothing measurable.
    public static func singleArena() { _ = glibcMallopt(arenaMax, 1) }
}
