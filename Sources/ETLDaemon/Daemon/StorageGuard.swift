import ETLState
import FoundationEssentials
import ETLCore
import Glibc
import Synchronization

/// Holds polls back while the state database cannot take writes (disk full, read-only,
/// I/O errors, corrupt). Without it every due playlist kept being fetched — a full scan for
/// each changed one — only for the commit to fail again (found by scripts/chaos: ~5 requests/s
/// against the API with the state filesystem full).
///
/// Once a poll fails on storage (`PollFailure.storage`, decided by type), no poll starts; every
/// `probeInterval` one probe checks that the filesystem has `minimumFree` bytes and that a tiny
/// write commits. When it does, polls resume and `onCleared` runs (the status line stops saying
/// "not taking new work"). A damaged (corrupt) database usually still takes that tiny write,
/// so after `.corrupt` the probe also needs `PRAGMA quick_check` to pass: otherwise every
/// probe would let one poll fetch a playlist from the API only to fail at its commit again.
public final class StorageGuard: Sendable {
    enum State: Equatable {
        case ok
        case blocked(since: Date, lastProbe: Date, failure: StorageFailure)
    }

    static let probeInterval: Double = 5
    /// Why polls are deferred while blocked (status, logs).
    static let deferReason = "state storage cannot take writes"
    static let minimumFree: UInt64 = 4 << 20

    private let state = Guarded(State.ok)
    private let probe: @Sendable (StorageFailure) -> Bool
    private let onCleared = Guarded<(@Sendable () -> Void)?>(nil)

    /// `probe` is asked, for the failure that blocked polls, whether storage works again.
    init(probeFor probe: @escaping @Sendable (StorageFailure) -> Bool) { self.probe = probe }

    convenience init(probe: @escaping @Sendable () -> Bool) { self.init(probeFor: { _ in probe() }) }

    /// The daemon's probe: free space in the state directory, then (after `.corrupt`) a
    /// quick check of the whole file, then a one-row write.
    convenience init(store: StateStore, directory: String) {
        self.init { failure in
            var s = statvfs()
            guard statvfs(directory, &s) == 0, UInt64(s.f_bavail) * UInt64(s.f_frsize) >= Self.minimumFree else { return false }
            if failure == .corrupt, !store.quickCheck() { return false }
            return (try? store.set("storage.probe", String(Date().timeIntervalSince1970))) != nil
        }
    }

    /// Runs after a successful probe lets polls resume. Set once, before polling starts.
    func setOnCleared(_ f: @escaping @Sendable () -> Void) { onCleared.withLock { $0 = f } }

    /// The storage failure that holds polls back, if any.
    var failure: StorageFailure? {
        state.withLock { if case .blocked(_, _, let f) = $0 { return f } else { return nil } }
    }

    /// nil: go ahead. Otherwise the poll is deferred until the returned time.
    func hold(now: Date) -> Date? {
        enum Decision { case answer(Date?), probe(StorageFailure) }
        let decision = state.withLock { s -> Decision in
            guard case .blocked(let since, let last, let f) = s else { return .answer(nil) }
            if now.timeIntervalSince(last) < Self.probeInterval { return .answer(last.addingTimeInterval(Self.probeInterval)) }
            // This caller probes; a concurrent one sees `lastProbe = now` and waits.
            s = .blocked(since: since, lastProbe: now, failure: f)
            return .probe(f)
        }
        let failure: StorageFailure
        switch decision {
        case .answer(let d): return d
        case .probe(let f): failure = f
        }
        // The probe runs outside the lock.
        guard probe(failure) else { return now.addingTimeInterval(Self.probeInterval) }
        state.withLock { $0 = .ok }
        onCleared.withLock { $0 }?()
        return nil
    }

    /// Without probing: while blocked, when the next probe is due (a scan in flight stops at
    /// its next page and is deferred until then, rather than reading on to a commit that
    /// cannot be written); nil when polls may go ahead.
    func blockedUntil() -> Date? {
        state.withLock { s in
            guard case .blocked(_, let last, _) = s else { return nil }
            return last.addingTimeInterval(Self.probeInterval)
        }
    }

    /// Looks at a finished poll: a storage failure blocks further polls.
    func observe(_ outcome: PollOutcome, now: Date) {
        guard case .failed(.storage(let kind, _)) = outcome else { return }
        state.withLock { s in
            if case .ok = s { s = .blocked(since: now, lastProbe: now, failure: kind) }
        }
    }
}
