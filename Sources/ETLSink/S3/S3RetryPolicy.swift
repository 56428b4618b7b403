import FoundationEssentials
import Glibc
import ETLCore

/// How often and how long to retry transient S3 failures inside one put. Waits are short
/// (sub-second to a few seconds); when attempts run out the failure goes back to the
/// flusher as `.transient`, which reschedules instead of sleeping.
public struct S3RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double
    /// Injectable so tests never really wait.
    public var sleeper: @Sendable (Double) -> Void
    /// Jitter source in [0, 1).
    public var random: @Sendable () -> Double

    public init(maxAttempts: Int = 4, baseDelay: Double = 0.2, maxDelay: Double = 3,
                sleeper: @escaping @Sendable (Double) -> Void = { sleepSeconds($0) },
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.sleeper = sleeper
        self.random = random
    }

    /// Exponential backoff with "equal jitter": half fixed, half random, capped.
    public func delay(afterAttempt attempt: Int) -> Double {
        let d = min(maxDelay, baseDelay * pow(2, Double(attempt)))
        return d / 2 + d / 2 * random()
    }

    /// S3 error codes / statuses worth retrying at once.
    public static func isRetryable(status: Int, code: String) -> Bool {
        if ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "ThrottlingException",
            "RequestTimeTooSkewed", "OperationAborted"].contains(code) { return true }
        return status == 429 || status >= 500
    }

    /// 403s that fresh credentials can cure (rotated IMDS keys, expired session tokens).
    public static func isCredentialRejection(status: Int, code: String) -> Bool {
        status == 403 && ["ExpiredToken", "InvalidAccessKeyId", "InvalidToken", "TokenRefreshRequired"].contains(code)
    }
}
