import Glibc

/// Blocks the calling thread; only for short, bounded waits (retry backoff inside one request).
/// Long waits (Retry-After) are never slept: the scheduler parks the work instead.
public func sleepSeconds(_ seconds: Double) {
    guard seconds > 0 else { return }
    let whole = seconds.rounded(.down)
    var req = timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1_000_000_000))
    var rem = timespec()
    while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
}
