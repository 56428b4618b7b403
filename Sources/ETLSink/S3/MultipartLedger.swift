import FoundationEssentials

/// A multipart upload started and not yet completed or aborted.
public struct OpenMultipartUpload: Sendable, Equatable {
    public var key: String
    public var uploadID: String
    /// Abort attempts that failed so far.
    public var attempts: Int
    public init(key: String, uploadID: String, attempts: Int = 0) {
        self.key = key
        self.uploadID = uploadID
        self.attempts = attempts
    }
}

/// Where the S3 client keeps the ids of multipart uploads until they are completed or
/// aborted (the daemon: the state database). Parts of an upload that is neither cost storage
/// forever (short of a lifecycle rule), so an id is recorded before the first part is sent
/// and forgotten only once S3 confirmed the completion or the abort: a failed abort or a
/// crash mid-upload leaves the id here for a later `S3Sink.maintain()`.
public protocol MultipartLedger: Sendable {
    func started(bucket: String, key: String, uploadID: String) throws
    func finished(bucket: String, key: String, uploadID: String) throws
    func abortFailed(bucket: String, key: String, uploadID: String, error: String) throws
    func open(bucket: String) throws -> [OpenMultipartUpload]
}
