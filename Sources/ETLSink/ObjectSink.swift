import ETLCore
import ETLHTTP
import FoundationEssentials

/// A sealed batch, already encoded (and gzipped) into a spool file. Sinks stream from the
/// file, so a 64 MiB object is never held in memory twice.
public struct SealedObject: Sendable, Equatable {
    /// The deterministic object name (without any sink prefix).
    public var key: String
    public var fileURL: URL
    public var byteCount: Int
    public var contentType: String
    /// "gzip" or nil.
    public var contentEncoding: String?

    public init(key: String, fileURL: URL, byteCount: Int, contentType: String, contentEncoding: String?) {
        self.key = key
        self.fileURL = fileURL
        self.byteCount = byteCount
        self.contentType = contentType
        self.contentEncoding = contentEncoding
    }
}

/// What the sink confirms. A batch leaves the outbox only after a receipt.
public struct PutReceipt: Sendable, Equatable {
    /// Where it landed: a path for the local sink, `s3://bucket/key` for S3.
    public var location: String
    public var etag: String?
    public init(location: String, etag: String? = nil) { self.location = location; self.etag = etag }
}

/// Classifies sink failures so the flusher knows whether to retry soon or slowly, and the
/// operator sees the sink's own error code.
public struct SinkError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// Transport errors, 5xx, SlowDown, RequestTimeout, 429, a full disk: retry with backoff.
        case transient
        /// Credentials or bucket problems (403s, NoSuchBucket): retry at a slow cadence, since
        /// an operator will fix them; never drop the batch.
        case needsOperator
    }
    public var kind: Kind
    /// e.g. "SignatureDoesNotMatch", "ENOSPC".
    public var code: String
    public var message: String
    public var requestID: String?

    public init(kind: Kind, code: String, message: String, requestID: String? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.requestID = requestID
    }

    public var description: String {
        "\(code): \(message)" + (requestID.map { " (request id \($0))" } ?? "")
    }
}

/// The last stage of the pipeline: encoder → batcher → (request builder → retry) → here.
public protocol ObjectSink: Sendable {
    /// Writes the object under its key. Must be idempotent: the same key with the same bytes
    /// may be written again after a crash.
    func put(_ object: SealedObject) throws -> PutReceipt

    /// Where the sink records the bytes its puts move, so a watchdog can tell a slow put
    /// that is still moving from a stuck one. The same object for the sink's whole life.
    var progress: TransferProgress { get }

    /// Housekeeping the flusher runs before each flush's puts (the S3 sink aborts multipart
    /// uploads left open). Never throws: what fails is tried again at a later flush.
    func maintain()
}

extension ObjectSink {
    public func maintain() {}
}
