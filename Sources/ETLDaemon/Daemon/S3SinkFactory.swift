import ETLConfig
import ETLSink
import FoundationEssentials
import Logging

/// Maps `[sink] kind = "s3"` to the S3 sink, with credentials from the standard AWS chain
/// (environment or $CREDENTIALS_DIRECTORY, shared credentials file, EC2 IMDSv2).
enum S3SinkFactory {
    static func settings(_ s: AppConfig.S3) -> S3Settings {
        S3Settings(bucket: s.bucket, prefix: s.prefix, region: s.region, endpoint: s.endpoint, pathStyle: s.pathStyle,
                   multipartThreshold: s.multipartThreshold, storageClass: s.storageClass, profile: s.profile)
    }

    /// - Parameter ledger: where multipart upload ids stay until completed or aborted.
    static func make(config: AppConfig, environment: [String: String], logger: Logger,
                     ledger: MultipartLedger? = nil) throws -> ObjectSink {
        let s = config.sink.s3
        do {
            let chain = CredentialsChain(environment: environment, profile: s.profile)
            return try S3Sink(settings: settings(s), credentials: chain, ledger: ledger)
        } catch let e as S3ConfigError {
            throw ConfigError(file: config.sourcePath, key: "sink.endpoint", message: e.message)
        }
    }
}
