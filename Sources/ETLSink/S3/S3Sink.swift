import ETLCore
import ETLHTTP
import FoundationEssentials

/// The S3 end of the pipeline. The object key is `settings.prefix + object.key`. A receipt
/// is returned only after S3 confirmed the bytes (200 plus matching ETag), so the batch
/// leaves the outbox only then; any failure is a `SinkError` and the spool file stays.
public final class S3Sink: ObjectSink {
    public let client: S3Client

    public init(settings: S3Settings, credentials: AWSCredentialsProvider, transport: HTTPTransport = CurlHTTPClient(),
                clock: Clock = SystemClock(), retry: S3RetryPolicy = S3RetryPolicy()) throws {
        client = try S3Client(settings: settings, credentials: credentials, transport: transport, clock: clock, retry: retry)
    }

    public init(client: S3Client) { self.client = client }

    /// The client's: every S3 request of every put reports to it, so the bytes of a long
    /// upload keep it moving.
    public var progress: TransferProgress { client.progress }

    public func put(_ object: SealedObject) throws -> PutReceipt {
        let key = client.settings.prefix + object.key
        let etag = try client.uploadFile(key: key, fileURL: object.fileURL, byteCount: object.byteCount,
                                         contentType: object.contentType, contentEncoding: object.contentEncoding)
        return PutReceipt(location: "s3://\(client.settings.bucket)/\(key)", etag: etag)
    }
}
