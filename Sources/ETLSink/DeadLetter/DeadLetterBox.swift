import ETLCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The dead-letter directory: where a sealed batch goes when its rows cannot be read or
/// encoded, so that it stops blocking the batches after it without its rows being lost.
///
/// A dead letter is two files named after the batch, `<table>-<batch id, 12 digits>`:
/// - `.rows`: the batch's rows exactly as the outbox stored them, one per line (a JSON array
///   of the table's column values in `Table.columns` order). A stored entry whose row
///   lengths are damaged cannot be cut into rows and is copied whole as one line. Damaged
///   bytes are copied as they are, so a line may not be valid JSON or UTF-8.
/// - `.reason`: one JSON object naming the batch, its table and columns, its object key, the
///   cause, the time and the number of lines in `.rows`.
///
/// The `.reason` file is written last, so its presence means the dead letter is complete;
/// `summary()` counts those. Both are written as `<name>.tmp-<pid>`, fsynced and renamed,
/// then the directory is fsynced: the caller marks the batch quarantined in the state
/// database only after `put` returned, so a crash in between repeats the copy (same names,
/// same bytes) and nothing is marked without its copy on disk. Files are 0600 and the
/// directory 0700: rows are the warehouse's data.
///
/// The operator replays or discards a dead letter and then deletes (or moves away) both
/// files; until then `status` counts it.
public struct DeadLetterBox: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// What the `.reason` file says.
    public struct Letter: Codable, Sendable, Equatable {
        public var batchID: Int64
        public var table: String
        public var columns: [String]
        public var objectKey: String
        public var reason: String
        public var quarantinedAt: String
        public var rowsFile: String
        public var lines: Int

        enum CodingKeys: String, CodingKey {
            case table, columns, reason, lines
            case batchID = "batch_id", objectKey = "object_key", quarantinedAt = "quarantined_at", rowsFile = "rows_file"
        }
    }

    /// The dead letters present: how many, and the newest (by the time its `.reason` file was
    /// written), as far as it can be read.
    public struct Summary: Sendable, Equatable {
        public var count: Int
        public var latest: Letter?
    }

    /// `<table>-<batch id>`, the stem of both files.
    public static func stem(table: Table, batchID: Int64) -> String {
        "\(table.rawValue)-\(cFormat("%012lld", batchID))"
    }

    /// Writes the dead letter of one batch: its stored rows (from `rows`, one call per line)
    /// and its reason. Returns the path of the `.rows` file. Throws `FileSystemError` (the
    /// batch then stays pending and the copy is tried again on the next flush), or whatever
    /// `rows` throws.
    @discardableResult
    public func put(table: Table, batchID: Int64, objectKey: String, reason: String, at: Date,
                    rows: ((UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Void) throws -> String {
        let dir = directory.path
        try FileIO.makeDirectories(dir, mode: 0o700)
        let stem = Self.stem(table: table, batchID: batchID)
        let rowsPath = dir + "/" + stem + ".rows"
        var lines = 0
        try Self.writeAtomically(rowsPath) { fd, path in
            var pending: [UInt8] = []
            pending.reserveCapacity(FileIO.bufferSize + 4096)
            try rows { bytes in
                pending.append(contentsOf: bytes)
                pending.append(UInt8(ascii: "\n"))
                lines += 1
                if pending.count >= FileIO.bufferSize {
                    try FileIO.writeAll(fd, pending, path: path)
                    pending.removeAll(keepingCapacity: true)
                }
            }
            try FileIO.writeAll(fd, pending, path: path)
        }
        let letter = Letter(batchID: batchID, table: table.rawValue, columns: table.columns, objectKey: objectKey,
                            reason: reason, quarantinedAt: Timestamp.iso(at), rowsFile: stem + ".rows", lines: lines)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = Array((try? encoder.encode(letter)) ?? Data("{}".utf8)) + [UInt8(ascii: "\n")]
        try Self.writeAtomically(dir + "/" + stem + ".reason") { fd, path in try FileIO.writeAll(fd, json, path: path) }
        try FileIO.fsyncDirectory(dir)
        return rowsPath
    }

    /// Counts the complete dead letters (`.reason` files) and reads the newest one. A missing
    /// directory is an empty box.
    public func summary() -> Summary {
        let dir = directory.path
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return Summary(count: 0) }
        var count = 0
        var newest: (path: String, mtime: Int, name: String)?
        for name in names where name.hasSuffix(".reason") {
            let path = dir + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            count += 1
            let mtime = Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec)
            if newest == nil || (mtime, name) > (newest!.mtime, newest!.name) { newest = (path, mtime, name) }
        }
        let latest = newest.flatMap { n -> Letter? in
            guard let data = FileManager.default.contents(atPath: n.path), data.count <= 1 << 20 else { return nil }
            return try? JSONDecoder().decode(Letter.self, from: data)
        }
        return Summary(count: count, latest: latest)
    }

    /// Writes `path` as `<path>.tmp-<pid>` (0600), fsyncs it and renames it into place.
    private static func writeAtomically(_ path: String, _ fill: (Int32, String) throws -> Void) throws {
        let temp = path + ".tmp-\(getpid())"
        let fd = try FileIO.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o600)
        var open = true
        do {
            try fill(fd, temp)
            try FileIO.fsync(fd, path: temp)
            open = false
            try FileIO.close(fd, path: temp)
            try FileIO.rename(temp, path)
        } catch {
            if open { _ = close(fd) }
            FileIO.unlinkQuietly(temp)
            throw error
        }
    }
}
