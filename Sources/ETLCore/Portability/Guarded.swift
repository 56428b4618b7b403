import Glibc

/// A value behind a pthread mutex, with the same `withLock` shape as Synchronization's
/// `Mutex`. Shared mutable state in this project lives in one of these.
///
/// Why not `Mutex`: on Linux it locks with futex system calls inside the uninstrumented
/// runtime, so ThreadSanitizer cannot see its happens-before edges and reports every access
/// under it as a race; the CI runs the daemon's tests under TSan and must stay silent. TSan
/// intercepts `pthread_mutex_lock`, so accesses under this lock are understood. A bare critical
/// section with no value uses `Lock`: TSan attributes accesses to a zero-sized stored value to
/// the object's header, which reference counting touches without the lock.
// @unchecked Sendable: a lock-protected box; `value` is only touched while `mutex` is held.
public final class Guarded<Value: ~Copyable>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    public init(_ initialValue: consuming sending Value) {
        value = initialValue
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value. Never call back into the same box from
    /// `body` (the mutex is not recursive).
    @inline(__always)
    public func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
