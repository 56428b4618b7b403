import ETLCore
import ETLHTTP
import FoundationEssentials
import Logging

/// The S3 end of the pipeline. The object key is `settings.prefix + object.key`. A receipt
/// is returned only after S3 confirmed the bytes (200 plus matching ETag), so the batch
/// leaves the outbox only then; any failure is a `SinkError` and the spool file stays.
public final class S3Sink: ObjectSink {
    public let client: S3Client
    private let clock: Clock
    /// When `maintain()` may next try the open uploads after a round that left some open.
    private let sweep = Guarded<(failures: Int, notBefore: Date?)>((0, nil))
    /// Pause after a sweep that left uploads open: 30 s doubling to 15 min, so an S3 outage
    /// does not put a round of aborts in front of every flush.
    static let firstSweepPause: Double = 30
    static let maxSweepPause: Double = 900

    /// - Parameter ledger: where multipart upload ids are kept until completed or aborted.
    public init(settings: S3Settings, credentials: AWSCredentialsProvider, transport: HTTPTransport = CurlHTTPClient(),
                clock: Clock = SystemClock(), retry: S3RetryPolicy = S3RetryPolicy(), ledger: MultipartLedger? = nil,
                logger: Logger = Logger(label: "spotifyd-etl.s3")) throws {
        client = try S3Client(settings: settings, credentials: credentials, transport: transport, clock: clock, retry: retry,
                              ledger: ledger, logger: logger)
        self.clock = clock
    }

    public init(client: S3Client, clock: Clock = SystemClock()) {
        self.client = client
        self.clock = clock
    }

    /// The client's: every S3 request of every put reports to it, so the bytes of a long
    /// upload keep it moving.
    public var progress: TransferProgress { client.progress }

    public func put(_ object: SealedObject) throws -> PutReceipt {
        let key = client.settings.prefix + object.key
        let etag = try client.uploadFile(key: key, fileURL: object.fileURL, byteCount: object.byteCount,
                                         contentType: object.contentType, contentEncoding: object.contentEncoding)
        return PutReceipt(location: "s3://\(client.settings.bucket)/\(key)", etag: etag)
    }

    /// Aborts the multipart uploads the ledger still holds (failed aborts, uploads a crash cut
    /// short), unless a recent round left some open and its pause is not over.
    public func maintain() {
        let now = clock.now()
        guard sweep.withLock({ s in s.notBefore.map { now >= $0 } ?? true }) else { return }
        let left = client.abortOpenUploads()
        sweep.withLock { s in
            if left == 0 {
                s = (0, nil)
            } else {
                s.failures += 1
                let pause = min(Self.maxSweepPause, Self.firstSweepPause * Double(1 << min(s.failures - 1, 16)))
                s.notBefore = clock.now().addingTimeInterval(pause)
            }
        }
    }
}
