import FoundationEssentials

/// Gives freed heap pages back to the kernel once a burst of polls is over.
///
/// Why: a poll cycle parses pages and builds rows, then frees them all; glibc keeps the freed
/// pages mapped for reuse, so a daemon that polls every few minutes would sit at its burst
/// high-water mark all day. `malloc_trim(0)` releases whole free pages (top of heap and, since
/// glibc 2.8, free pages inside it). It is called when the scheduler has had nothing in flight
/// for `quietSeconds`, at most once per burst, so it costs one call per cycle, never one per
/// poll. Together with a single malloc arena (set at start-up) this keeps steady RSS flat.
public final class HeapTrimmer: @unchecked Sendable {
    public typealias Trim = () -> Void
    private let quietSeconds: Double
    private let trim: Trim
    private var busySince: Date?
    private var lastBusy = Date.distantPast
    private var trimmedAfterLastBusy = true
    public private(set) var trims = 0

    public init(quietSeconds: Double = 2, trim: @escaping Trim = HeapTrimmer.glibcTrim) {
        self.quietSeconds = quietSeconds
        self.trim = trim
    }

    /// Called on the scheduler queue each tick. `busy` is whether any poll is in flight.
    public func tick(busy: Bool, now: Date) {
        if busy {
            lastBusy = now
            trimmedAfterLastBusy = false
            return
        }
        guard !trimmedAfterLastBusy, now.timeIntervalSince(lastBusy) >= quietSeconds else { return }
        trimmedAfterLastBusy = true
        trims += 1
        trim()
    }

    /// glibc's `malloc_trim(0)`.
    public static let glibcTrim: Trim = { _ = glibcMallocTrim(0) }
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
