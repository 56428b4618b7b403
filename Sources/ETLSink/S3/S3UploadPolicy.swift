import ETLHTTP

/// Limits for S3 requests that carry an object body (PutObject, UploadPart).
///
/// A fixed total timeout would cut a large part on a slow but working link, and the retry
/// would resend it from the start, forever. So these requests have no total timeout; instead
/// a dead link is cut after 60 s below 1 KB/s. Requests without an object body (Create /
/// Complete / Abort multipart, list, head, get, IMDS) are small and keep a total timeout.
public enum S3UploadPolicy {
    /// Total timeout of an object-body request: 0, none (see `HTTPRequest.timeout`).
    public static let timeout: Double = 0
    public static let lowSpeed = LowSpeedLimit(bytesPerSecond: 1024, seconds: 60)
}
