import ETLCore
import ETLHTTP
import ETLSink
import ETLState
import FoundationEssentials
import Logging
import Synchronization

/// Seals outbox rows into batches and delivers sealed batches to the sink:
/// outbox → seal (fixes rows + object name) → encode to a spool file → sink.put → mark
/// uploaded (rows deleted) — each step idempotent, so a crash anywhere only repeats work with
/// the same key and the same bytes.
///
/// A batch whose rows cannot be read or encoded (a damaged payload, a row that does not fit
/// the table's contract) would fail the same way on every attempt and hold back every batch
/// after it. It is quarantined instead: its stored rows go to the dead-letter directory
/// (`DeadLetterBox`, durable first), then the batch is marked quarantined in the state
/// database, and delivery goes on with the next batch.
public final class Flusher: Sendable {
    public struct Limits: Sendable {
        public var maxRows: Int
        public var maxBytes: Int
        public var maxAge: Double
        public init(maxRows: Int, maxBytes: Int, maxAge: Double) { self.maxRows = maxRows; self.maxBytes = maxBytes; self.maxAge = maxAge }
    }

    public struct Result: Sendable {
        public var sealed = 0
        public var uploaded = 0
        public var bytes = 0
        /// Batches quarantined in this flush (copied to the dead-letter directory).
        public var quarantined = 0
        /// The first failure, when a batch could not be delivered (it stays in the outbox).
        public var failure: SinkError?
        /// The object of the batch that failed, when the failure was that batch's.
        public var failedKey: String?
        public var lastKey: String?
    }

    private let state: StateStore
    private let sink: ObjectSink
    private let writer: BatchFileWriter
    /// Where batches that cannot be encoded go (see the type's comment).
    public let deadLetters: DeadLetterBox
    private let naming: ObjectNaming
    private let limits: Limits
    private let clock: Clock
    private let logger: Logger
    private let metrics: PipelineMetrics
    /// One flush at a time: the flush timer, `spotifyd-etl flush` and shutdown may race. Holds
    /// the code of the last failure, so a repeated one is logged once.
    private let serial = Guarded<String?>(nil)
    /// Marked when a batch is sealed, encoded or delivered: with the sink's byte progress, the
    /// watchdog's evidence that a long flush is moving.
    public let progress: ProgressMark
    /// The sink's transfer progress (bytes moved on an upload).
    public var sinkProgress: TransferProgress { sink.progress }

    /// - Parameter deadLetterDirectory: defaults to `dead-letter` next to the spool directory
    ///   (both under the state directory).
    ///
    /// Removes the temp files a crashed run left in the spool, the dead-letter directory and
    /// a local sink's tree (`StaleTempFiles`), and logs how many.
    public init(state: StateStore, sink: ObjectSink, spoolDirectory: URL, naming: ObjectNaming, limits: Limits,
                clock: Clock = SystemClock(), logger: Logger, metrics: PipelineMetrics = PipelineMetrics(),
                progress: ProgressMark = ProgressMark(), deadLetterDirectory: URL? = nil) {
        self.progress = progress
        self.state = state
        self.sink = sink
        self.writer = BatchFileWriter(spoolDirectory: spoolDirectory, naming: naming)
        self.deadLetters = DeadLetterBox(directory: deadLetterDirectory
            ?? spoolDirectory.deletingLastPathComponent().appendingPathComponent("dead-letter", isDirectory: true))
        self.naming = naming
        self.limits = limits
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        var swept = [spoolDirectory.path, deadLetters.directory.path]
        if let local = sink as? LocalSink { swept.append(local.root.path) }
        let removed = swept.reduce(0) { $0 + StaleTempFiles.sweep($1) }
        if removed > 0 {
            logger.notice("removed \(LogText.counted(removed, "stale temp file")) left by an earlier run",
                          metadata: ["removed": "\(removed)"])
        }
    }

    /// Seals what is due (everything when `force`) and uploads every sealed batch not yet
    /// delivered. Stops at the first sink failure: later batches would fail the same way, and
    /// order of delivery is kept.
    @discardableResult
    public func flush(force: Bool) -> Result {
        serial.withLock { lastFailureCode in flushLocked(force: force, lastFailureCode: &lastFailureCode) }
    }

    private func flushLocked(force: Bool, lastFailureCode: inout String?) -> Result {
        var result = Result()
        // The sink's housekeeping first (S3: abort multipart uploads left open).
        sink.maintain()
        let now = clock.now()
        do {
            let sealed = try state.seal(now: now, maxRows: limits.maxRows, maxBytes: limits.maxBytes,
                                        maxAge: limits.maxAge, force: force) { [naming] t, id, at in
                naming.key(table: t, batchID: id, sealedAt: at)
            }
            result.sealed = sealed.count
            progress.mark()
            metrics.sealed(sealed.count)
            for b in sealed {
                logger.debug("batch sealed: \(LogText.escaped(b.objectKey)), \(LogText.counted(b.rowCount, "row"))",
                             metadata: ["batch_id": "\(b.batchID)", "s3_key": "\(b.objectKey)", "rows": "\(b.rowCount)"])
            }
            for batch in try state.unuploadedBatches() {
                try deliver(batch, into: &result)
            }
        } catch let e as SinkError {
            result.failure = e
        } catch {
            result.failure = SinkError(kind: .transient, code: Self.code(of: error), message: "\(error)")
        }
        if let f = result.failure {
            metrics.uploadFailed()
            // Logged once per distinct failure (with the sink's code and request id); repeats
            // of the same one while an operator fixes credentials or the bucket go to debug.
            let level: Logger.Level = f.code == lastFailureCode ? .debug : .error
            lastFailureCode = f.code
            var metadata: Logger.Metadata = ["error_code": "\(f.code)", "request_id": "\(f.requestID ?? "-")"]
            if let key = result.failedKey { metadata["s3_key"] = "\(key)" }
            logger.log(level: level, "\(Self.failureMessage(f, key: result.failedKey))", metadata: metadata)
        } else if result.uploaded > 0 || result.sealed > 0 || result.quarantined > 0 {
            if lastFailureCode != nil {
                let last = result.lastKey.map { ", the last \(LogText.escaped($0))" } ?? ""
                logger.notice("uploads recovered: \(LogText.counted(result.uploaded, "batch", plural: "batches")) uploaded\(last)")
            }
            lastFailureCode = nil
        }
        updateGauges()
        // Fold the WAL back into the database after each cycle (never waits for readers).
        _ = try? state.checkpointWAL()
        return result
    }

    private func deliver(_ batch: SealedBatch, into result: inout Result) throws {
        let encoded: EncodedBatch
        do {
            encoded = try writer.write(key: batch.objectKey, table: batch.table, batchID: batch.batchID,
                                       payloads: { emit in try state.forEachPayload(ofBatch: batch.batchID, emit) })
        } catch let e as FileSystemError {
            try? state.recordUploadFailure(batchID: batch.batchID, error: e.description)
            result.failedKey = batch.objectKey
            throw e.sinkError
        } catch {
            guard let reason = Self.quarantineReason(error) else { throw error }
            do {
                try quarantine(batch, reason: reason)
            } catch {
                result.failedKey = batch.objectKey
                throw error
            }
            result.quarantined += 1
            progress.mark()
            return
        }
        progress.mark()
        do {
            let receipt = try sink.put(encoded.object)
            try state.markUploaded(batchID: batch.batchID, location: receipt.location, etag: receipt.etag, at: clock.now())
            try? writer.remove(encoded.object)
            progress.mark()
            result.uploaded += 1
            result.bytes += encoded.object.byteCount
            result.lastKey = batch.objectKey
            metrics.uploaded(bytes: encoded.object.byteCount)
            logger.info("\(Self.uploadedMessage(key: batch.objectKey, rows: encoded.rowCount, bytes: encoded.object.byteCount))",
                        metadata: ["batch_id": "\(batch.batchID)", "s3_key": "\(batch.objectKey)",
                                   "rows": "\(encoded.rowCount)", "bytes": "\(encoded.object.byteCount)"])
        } catch let e as SinkError {
            try? state.recordUploadFailure(batchID: batch.batchID, error: e.description)
            result.failedKey = batch.objectKey
            throw e
        }
    }

    /// Why a batch that failed to encode with `error` must be quarantined, or nil when the
    /// failure is not the batch's own (storage, spool disk, a bug elsewhere) and the batch
    /// stays pending. Decided by type: its stored rows are damaged, or a row does not fit the
    /// table's contract; either fails the same way on every attempt.
    static func quarantineReason(_ error: Error) -> String? {
        switch error {
        case let e as StateError:
            if case .corruptPayload = e { return e.description }
            return nil
        case let e as BatchEncodingError:
            return e.description
        default:
            return nil
        }
    }

    /// Copies the batch's stored rows to the dead-letter directory (durably), then marks it
    /// quarantined, in that order: a crash in between copies again on the next flush.
    /// A failed copy (dead-letter disk full) leaves the batch pending and throws.
    private func quarantine(_ batch: SealedBatch, reason: String) throws {
        let now = clock.now()
        let path: String
        do {
            path = try deadLetters.put(table: batch.table, batchID: batch.batchID, objectKey: batch.objectKey,
                                       reason: reason, at: now) { line in
                try state.forEachStoredRow(ofBatch: batch.batchID, line)
            }
        } catch let e as FileSystemError {
            try? state.recordUploadFailure(batchID: batch.batchID, error: e.description)
            throw e.sinkError
        }
        try state.markQuarantined(batchID: batch.batchID, deadLetter: path, reason: reason, at: now)
        metrics.quarantined()
        logger.error("batch quarantined: \(LogText.escaped(batch.objectKey)): \(LogText.escaped(reason)); its rows are in \(LogText.escaped(path)), later batches go on",
                     metadata: ["batch_id": "\(batch.batchID)", "s3_key": "\(batch.objectKey)", "dead_letter": "\(path)"])
    }

    /// Outbox gauges for metrics and status: rows not yet uploaded and the oldest one's age.
    public func updateGauges() {
        metrics.deadLetters(deadLetters.summary().count)
        guard let summary = try? state.outboxSummary(), let pending = try? state.pendingBatchSummary() else { return }
        // Not yet delivered = unsealed rows + rows of sealed batches still waiting for the sink.
        let rows = summary.values.reduce(0) { $0 + $1.rows } + pending.values.reduce(0) { $0 + $1.rows }
        let oldest = (summary.values.compactMap(\.oldest) + pending.values.compactMap(\.oldestSealedAt)).min()
        metrics.outbox(rows: rows, oldestAge: oldest.map { clock.now().timeIntervalSince($0) } ?? 0)
    }

    /// `batch uploaded: playlist_items/dt=2026-12-02/playlist_items-000000000042.ndjson.gz, 1,204 rows, 88 KB`
    /// (the object key below the sink's prefix; the size of the object as written).
    static func uploadedMessage(key: String, rows: Int, bytes: Int) -> String {
        "batch uploaded: \(LogText.escaped(key)), \(LogText.counted(rows, "row")), \(LogText.bytes(bytes))"
    }

    /// `upload failed: <key>: <code>: <message> (request id …)`, the key when the failure was
    /// one batch's (not, say, the state database's while sealing).
    static func failureMessage(_ f: SinkError, key: String?) -> String {
        "upload failed: " + (key.map { LogText.escaped($0) + ": " } ?? "") + LogText.escaped(f.description)
    }

    static func code(of error: Error) -> String {
        if let s = error as? StateError { return s.isStorageFailure ? "STATE_STORAGE" : "STATE" }
        return String(describing: type(of: error))
    }
}
