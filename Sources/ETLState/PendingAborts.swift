import FoundationEssentials

/// A multipart upload that was started and not yet completed or aborted: its parts cost
/// storage until an AbortMultipartUpload succeeds, so the id is kept until then.
public struct PendingAbort: Sendable, Equatable {
    public var bucket: String
    public var key: String
    public var uploadID: String
    public var startedAt: Date
    /// Abort attempts that failed so far.
    public var attempts: Int
    public var lastError: String?

    public init(bucket: String, key: String, uploadID: String, startedAt: Date, attempts: Int = 0, lastError: String? = nil) {
        self.bucket = bucket
        self.key = key
        self.uploadID = uploadID
        self.startedAt = startedAt
        self.attempts = attempts
        self.lastError = lastError
    }
}

extension StateStore {
    /// Records an upload id before any part is sent, so a crash mid-upload leaves a record
    /// to abort at the next start.
    public func recordMultipart(bucket: String, key: String, uploadID: String, at: Date) throws {
        try locked {
            let s = try db.cached("""
                INSERT INTO pending_aborts(bucket, object_key, upload_id, started_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(bucket, object_key, upload_id) DO NOTHING
                """)
            try s.bind(1, bucket)
            try s.bind(2, key)
            try s.bind(3, uploadID)
            try s.bind(4, at.timeIntervalSince1970)
            try s.run()
        }
    }

    /// The upload was completed or aborted: nothing is left to clean up.
    public func forgetMultipart(bucket: String, key: String, uploadID: String) throws {
        try locked {
            let s = try db.cached("DELETE FROM pending_aborts WHERE bucket = ? AND object_key = ? AND upload_id = ?")
            try s.bind(1, bucket)
            try s.bind(2, key)
            try s.bind(3, uploadID)
            try s.run()
        }
    }

    /// An abort attempt failed; it is tried again later.
    public func recordAbortFailure(bucket: String, key: String, uploadID: String, error: String) throws {
        try locked {
            let s = try db.cached("""
                UPDATE pending_aborts SET attempts = attempts + 1, last_error = ?
                WHERE bucket = ? AND object_key = ? AND upload_id = ?
                """)
            try s.bind(1, error)
            try s.bind(2, bucket)
            try s.bind(3, key)
            try s.bind(4, uploadID)
            try s.run()
        }
    }

    /// Uploads still to abort in `bucket`, oldest first.
    public func pendingAborts(bucket: String) throws -> [PendingAbort] {
        try locked {
            let s = try db.cached("""
                SELECT object_key, upload_id, started_at, attempts, last_error FROM pending_aborts
                WHERE bucket = ? ORDER BY started_at, object_key, upload_id
                """)
            defer { s.reset() }
            try s.bind(1, bucket)
            var out: [PendingAbort] = []
            while try s.step() {
                out.append(PendingAbort(bucket: bucket, key: s.string(0) ?? "", uploadID: s.string(1) ?? "",
                                        startedAt: s.date(2) ?? Date(timeIntervalSince1970: 0), attempts: s.int(3),
                                        lastError: s.string(4)))
            }
            return out
        }
    }
}
