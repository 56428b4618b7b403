import ETLCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Streams a batch's rows to the writer, one `emit` call per row (values in `table.columns`
/// order). The outbox reads rows from SQLite inside this closure, so a 64 MiB batch is
/// never materialised in memory.
public typealias RowSource = (_ emit: ([Value]) throws -> Void) throws -> Void

/// Streams a batch's rows as stored outbox payloads (`JSONText.encodeValues` text), one `emit`
/// call per row: the payload bytes (valid only during the call) and a function that decodes
/// them into values (throwing the store's error for a corrupt payload). The writer splices
/// NDJSON records straight from canonical payloads and decodes only when it must (CSV, or a
/// payload not in canonical form); the output bytes are the same either way.
public typealias PayloadSource = (_ emit: (UnsafeBufferPointer<UInt8>, () throws -> [Value]) throws -> Void) throws -> Void

/// The result of encoding one batch into the spool.
public struct EncodedBatch: Sendable, Equatable {
    /// What the sink uploads: key, spool file, size on disk, content type and encoding.
    public var object: SealedObject
    /// Bytes before compression (equal to `object.byteCount` when not gzipped). For metrics.
    public var uncompressedByteCount: Int
    public var rowCount: Int

    public init(object: SealedObject, uncompressedByteCount: Int, rowCount: Int) {
        self.object = object
        self.uncompressedByteCount = uncompressedByteCount
        self.rowCount = rowCount
    }
}

/// A row the encoder cannot write faithfully. Thrown rather than padded or truncated: it means
/// the outbox and this build disagree about the contract, and the batch must stay in the
/// outbox (nothing is lost) until an operator looks.
public enum BatchEncodingError: Error, CustomStringConvertible, Sendable, Equatable {
    case wrongColumnCount(table: Table, batchID: Int64, rowIndex: Int, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case let .wrongColumnCount(table, batchID, rowIndex, expected, actual):
            return "batch \(batchID) row \(rowIndex) of \(table.rawValue) has \(actual) values, contract has \(expected) columns"
        }
    }
}

/// Encodes a sealed batch into a spool file: encoder → (gzip) → temp file → fsync → rename.
///
/// The second pipeline stage, between the outbox and the sinks. Why a spool file: sinks stream
/// from disk (an S3 PUT needs the length and payload hash up front, and a retry re-reads the
/// same bytes), so an object is never held in memory twice.
///
/// Determinism: the output is a pure function of (format, gzip, table, batchID, rows). The
/// encoders are deterministic; encoded records are handed to the compressor in chunks whose
/// boundaries depend only on the bytes (flush at ≥ 64 KiB); the gzip header is pinned (see
/// `GzipWriter`). So re-encoding a batch after a crash yields a byte-identical file.
///
/// Crash safety: the file is written under `<name>.tmp-<pid>`, fsynced, renamed over the final
/// spool name and the directory fsynced, so the spool never holds a half-written object under
/// its real name. A leftover temp file from a crash is overwritten by the next attempt from
/// the same pid and otherwise harmless (it never carries the final name).
public struct BatchFileWriter: Sendable {
    public var spoolDirectory: URL
    public var naming: ObjectNaming

    public init(spoolDirectory: URL, naming: ObjectNaming) {
        self.spoolDirectory = spoolDirectory
        self.naming = naming
    }

    /// The spool file for `key`: the key with `/` flattened to `_`, so all spool files share
    /// one directory and the name is still unique per (table, batch).
    public func spoolURL(forKey key: String) -> URL {
        spoolDirectory.appendingPathComponent(key.replacing("/", with: "_"), isDirectory: false)
    }

    /// Encodes under the key derived from `naming` and the sealing time.
    public func write(table: Table, batchID: Int64, sealedAt: Date, rows: RowSource) throws -> EncodedBatch {
        try write(key: naming.key(table: table, batchID: batchID, sealedAt: sealedAt), table: table,
                  batchID: batchID, rows: rows)
    }

    /// Encodes under a key computed earlier (the outbox stores it at sealing, so a retry never
    /// recomputes it from a later clock).
    ///
    /// Throws `FileSystemError` (spool disk full, permissions), `BatchEncodingError`, `GzipError`,
    /// or whatever `rows` throws. On any error no final spool file is created or changed and
    /// the temp file is removed.
    public func write(key: String, table: Table, batchID: Int64, rows: RowSource) throws -> EncodedBatch {
        try encodeFile(key: key, table: table, batchID: batchID) { encoder, records in
            try rows { values in try records.add(values, encoder: encoder) }
        }
    }

    /// As `write(key:table:batchID:rows:)`, from stored payloads (see `PayloadSource`). The
    /// bytes written are identical to decoding every payload and passing the values to `rows`.
    public func write(key: String, table: Table, batchID: Int64, payloads: PayloadSource) throws -> EncodedBatch {
        let splice = naming.format == .ndjson
        let prefixes = splice ? NDJSONEncoder.keyPrefixes(table) : []
        var elements: [Range<Int>] = []
        elements.reserveCapacity(prefixes.count)
        return try encodeFile(key: key, table: table, batchID: batchID) { encoder, records in
            try payloads { bytes, decode in
                if splice, CanonicalPayload.scan(bytes, into: &elements), elements.count == prefixes.count {
                    try records.add { NDJSONEncoder.splice(payload: bytes, elements: elements, prefixes: prefixes,
                                                          batchID: batchID, into: &$0) }
                } else {
                    try records.add(try decode(), encoder: encoder)
                }
            }
        }
    }

    /// Collects encoded records into chunks for the output (see the determinism note above:
    /// chunk boundaries depend only on the bytes).
    private final class Records {
        let table: Table
        let batchID: Int64
        let output: BatchOutput
        var pending: [UInt8] = []
        var uncompressed = 0
        var rowCount = 0

        init(table: Table, batchID: Int64, output: BatchOutput) {
            self.table = table
            self.batchID = batchID
            self.output = output
            pending.reserveCapacity(FileIO.bufferSize + 4096)
        }

        func add(_ values: [Value], encoder: any RowEncoder) throws {
            let expected = table.columns.count
            guard values.count == expected else {
                throw BatchEncodingError.wrongColumnCount(table: table, batchID: batchID, rowIndex: rowCount,
                                                          expected: expected, actual: values.count)
            }
            try add { encoder.encode(values: values, batchID: batchID, table: table, into: &$0) }
        }

        func add(_ record: (inout [UInt8]) -> Void) throws {
            record(&pending)
            rowCount += 1
            if pending.count >= FileIO.bufferSize { try flush() }
        }

        func flush() throws {
            guard !pending.isEmpty else { return }
            try output.write(pending)
            uncompressed += pending.count
            pending.removeAll(keepingCapacity: true)
        }
    }

    private func encodeFile(key: String, table: Table, batchID: Int64,
                            fill: (any RowEncoder, Records) throws -> Void) throws -> EncodedBatch {
        let directory = spoolDirectory.path
        try FileIO.makeDirectories(directory)
        let finalPath = spoolURL(forKey: key).path
        let tempPath = finalPath + ".tmp-\(getpid())"
        let fd = try FileIO.open(tempPath, O_WRONLY | O_CREAT | O_TRUNC)
        var fdOpen = true
        do {
            let output: BatchOutput = naming.gzip
                ? .gzip(try GzipWriter(fileDescriptor: fd, path: tempPath))
                : .plain(PlainOutput(fd: fd, path: tempPath))
            let encoder = naming.format.makeEncoder(for: table)
            let records = Records(table: table, batchID: batchID, output: output)
            if let header = encoder.header { records.pending.append(contentsOf: header) }
            try fill(encoder, records)
            try records.flush()
            let written = try output.finish()
            try FileIO.fsync(fd, path: tempPath)
            fdOpen = false
            try FileIO.close(fd, path: tempPath)
            try FileIO.rename(tempPath, finalPath)
            try FileIO.fsyncDirectory(directory)

            let object = SealedObject(key: key, fileURL: URL(fileURLWithPath: finalPath), byteCount: written,
                                      contentType: naming.contentType, contentEncoding: naming.gzip ? "gzip" : nil)
            return EncodedBatch(object: object, uncompressedByteCount: records.uncompressed, rowCount: records.rowCount)
        } catch {
            if fdOpen { _ = close(fd) }
            FileIO.unlinkQuietly(tempPath)
            throw error
        }
    }

    /// Deletes a spool file once its object has a receipt. Missing files are fine (idempotent).
    public func remove(_ object: SealedObject) throws {
        if unlink(object.fileURL.path) != 0 && errno != ENOENT {
            throw FileSystemError(operation: "unlink", path: object.fileURL.path, errno: errno)
        }
    }
}

/// Where encoded bytes go: straight to the file, or through gzip.
private enum BatchOutput {
    case plain(PlainOutput)
    case gzip(GzipWriter)

    func write(_ bytes: [UInt8]) throws {
        switch self {
        case .plain(let p): try FileIO.writeAll(p.fd, bytes, path: p.path); p.counter.count += bytes.count
        case .gzip(let g): try g.write(bytes)
        }
    }

    /// Returns the number of bytes in the file.
    func finish() throws -> Int {
        switch self {
        case .plain(let p): return p.counter.count
        case .gzip(let g): try g.finish(); return g.bytesOut
        }
    }
}

private struct PlainOutput {
    final class Counter { var count = 0 }
    let fd: Int32
    let path: String
    let counter = Counter()
}
