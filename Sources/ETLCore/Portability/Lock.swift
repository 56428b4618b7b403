import FoundationEssentials
import Glibc

/// A plain pthread mutex. The project links FoundationEssentials only (no Foundation, so no ICU
/// data and no libxml2 in the daemon's memory); this is the small part of `NSLock` we used.
// @unchecked Sendable: wraps a heap-allocated pthread mutex, which is itself the synchronisation.
public final class Lock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// For a lock that guards no value of its own (a critical section); a value that needs
    /// guarding goes in a `Guarded` box instead.
    @inline(__always)
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A mutex with a condition variable (the part of `NSCondition` we used). Waits use
/// CLOCK_MONOTONIC so a wall-clock step cannot stretch or cut a timed wait.
// @unchecked Sendable: wraps heap-allocated pthread mutex and condition handles, themselves the synchronisation.
public final class Condition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func wait() { pthread_cond_wait(cond, mutex) }
    public func signal() { pthread_cond_signal(cond) }
    public func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits until `deadline` (wall clock, converted to a monotonic wait); false on timeout.
    @discardableResult
    public func wait(until deadline: Date) -> Bool { wait(seconds: max(0, deadline.timeIntervalSinceNow)) }

    /// Waits at most `seconds`; returns false on timeout. Call with the lock held.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let whole = seconds.rounded(.down)
        var sec = now.tv_sec + Int(whole)
        var nsec = now.tv_nsec + Int((seconds - whole) * 1_000_000_000)
        if nsec >= 1_000_000_000 { sec += 1; nsec -= 1_000_000_000 }
        var deadline = timespec(tv_sec: sec, tv_nsec: nsec)
        return pthread_cond_timedwait(cond, mutex, &deadline) == 0
    }
}
