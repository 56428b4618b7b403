import ETLState
import FoundationEssentials
import ETLCore
import Glibc

/// Holds polls back while the state database cannot take writes (disk full, read-only,
/// I/O errors). Without it every due playlist kept being fetched — a full scan for each
/// changed one — only for the commit to fail again (found by scripts/chaos: ~5 requests/s
/// against the API with the state filesystem full).
///
/// Once a poll fails on storage, no poll starts; every `probeInterval` one probe checks that
/// the filesystem has `minimumFree` bytes and that a tiny write commits. When it does, polls
/// resume and the caller's `onCleared` runs (the status line stops saying "not taking new work").
final class StorageGuard: @unchecked Sendable {
    enum State: Equatable {
        case ok
        case blocked(since: Date, lastProbe: Date)
    }

    static let probeInterval: Double = 5
    /// Why polls are deferred while blocked (status, logs).
    static let deferReason = "state storage cannot take writes"
    static let minimumFree: UInt64 = 4 << 20

    private let lock = Lock()
    private(set) var state: State = .ok
    private let probe: () -> Bool
    var onCleared: (() -> Void)?

    init(probe: @escaping () -> Bool) { self.probe = probe }

    /// The daemon's probe: free space in the state directory, then a one-row write.
    convenience init(store: StateStore, directory: String) {
        self.init {
            var s = statvfs()
            guard statvfs(directory, &s) == 0, UInt64(s.f_bavail) * UInt64(s.f_frsize) >= Self.minimumFree else { return false }
            return (try? store.set("storage.probe", String(Date().timeIntervalSince1970))) != nil
        }
    }

    /// nil: go ahead. Otherwise the poll is deferred until the returned time.
    func hold(now: Date) -> Date? {
        lock.lock()
        guard case .blocked(let since, let last) = state else { lock.unlock(); return nil }
        if now.timeIntervalSince(last) < Self.probeInterval {
            lock.unlock()
            return last.addingTimeInterval(Self.probeInterval)
        }
        state = .blocked(since: since, lastProbe: now)
        lock.unlock()
        // The probe runs outside the lock; a concurrent caller sees `lastProbe = now` and waits.
        guard probe() else { return now.addingTimeInterval(Self.probeInterval) }
        lock.lock()
        state = .ok
        lock.unlock()
        onCleared?()
        return nil
    }

    /// Without probing: while blocked, when the next probe is due (a scan in flight stops at
    /// its next page and is deferred until then, rather than reading on to a commit that
    /// cannot be written); nil when polls may go ahead.
    func blockedUntil() -> Date? {
        lock.lock()
        defer { lock.unlock() }
        guard case .blocked(_, let last) = state else { return nil }
        return last.addingTimeInterval(Self.probeInterval)
    }

    /// Looks at a finished poll: a storage failure blocks further polls.
    func observe(_ outcome: PollOutcome, now: Date) {
        guard case .failed(let reason) = outcome, Self.isStorageFailure(reason) else { return }
        lock.lock()
        if case .ok = state { state = .blocked(since: now, lastProbe: now) }
        lock.unlock()
    }

    /// `PlaylistPoller` reports state errors as `state: <StateError.description>`.
    static func isStorageFailure(_ reason: String) -> Bool {
        guard reason.hasPrefix("state:") else { return false }
        return ["disk full", "read-only", "I/O error", "cannot open"].contains { reason.firstRange(of: $0) != nil }
    }
}
