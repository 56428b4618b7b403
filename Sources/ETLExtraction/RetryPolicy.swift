import FoundationEssentials
import Glibc
import ETLCore

/// How a worker waits between short retries (5xx, transport errors). Injectable so tests of
/// the retry loop run at full speed while still talking to the real emulator.
public protocol Sleeper: Sendable {
    func sleep(seconds: Double)
}

/// Sleeps the calling worker thread, but never longer than `cap` seconds: long waits
/// (Retry-After, quotas) are deferrals handed back to the scheduler, not sleeps.
public struct ThreadSleeper: Sleeper {
    public let cap: Double
    public init(cap: Double = 2) { self.cap = cap }
    public func sleep(seconds: Double) {
        let s = min(max(seconds, 0), cap)
        if s > 0 { sleepSeconds(s) }
    }
}

/// Exponential backoff with jitter for transient failures. Five attempts in all; delays
/// 0.25, 0.5, 1, 2 s (each scaled by a random factor in [0.5, 1]) so workers hitting the same
/// 503 do not retry in lockstep.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double

    public init(maxAttempts: Int = 5, baseDelay: Double = 0.25, maxDelay: Double = 2) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Delay after failed attempt `attempt` (1-based).
    public func delay(afterAttempt attempt: Int) -> Double {
        let exp = baseDelay * pow(2, Double(max(attempt - 1, 0)))
        return min(exp, maxDelay) * Double.random(in: 0.5...1.0)
    }

    /// Statuses worth another attempt: the server's transient failures.
    public static func isRetryable(status: Int) -> Bool { [500, 502, 503, 504].contains(status) }
}
