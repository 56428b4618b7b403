import ETLConfig
import ETLSink
import Foundation
import Logging

/// Maps `[sink] kind = "s3"` to the S3 sink. Kept apart so the local-only build path stays small.
enum S3SinkFactory {
    static func make(config: AppConfig, environment: [String: String], logger: Logger) throws -> ObjectSink {
        throw ConfigError(file: config.sourcePath, key: "sink.kind", message: "s3 sink not available in this build")
    }
}
