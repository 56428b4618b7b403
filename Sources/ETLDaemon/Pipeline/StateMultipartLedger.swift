import ETLSink
import ETLState
import FoundationEssentials

/// The S3 client's multipart ledger in the state database's `pending_aborts` table.
struct StateMultipartLedger: MultipartLedger {
    let state: StateStore

    func started(bucket: String, key: String, uploadID: String) throws {
        try state.recordMultipart(bucket: bucket, key: key, uploadID: uploadID, at: Date())
    }

    func finished(bucket: String, key: String, uploadID: String) throws {
        try state.forgetMultipart(bucket: bucket, key: key, uploadID: uploadID)
    }

    func abortFailed(bucket: String, key: String, uploadID: String, error: String) throws {
        try state.recordAbortFailure(bucket: bucket, key: key, uploadID: uploadID, error: error)
    }

    func open(bucket: String) throws -> [OpenMultipartUpload] {
        try state.pendingAborts(bucket: bucket).map { OpenMultipartUpload(key: $0.key, uploadID: $0.uploadID, attempts: $0.attempts) }
    }
}
