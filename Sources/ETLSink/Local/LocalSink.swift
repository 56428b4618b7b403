import ETLCore
import ETLHTTP
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The default sink: objects become files under `root`, at `<root>/<key>`.
///
/// Readers (a loader watching the directory, `aws s3 sync`, a human with `ls`) must never see a
/// partial object under its final name. So `put` copies the spool file to
/// `<root>/<key>.tmp-<pid>` in the same directory as the final file (rename is atomic only
/// within one file system), fsyncs it, renames it into place and fsyncs the directory, so
/// the name and the bytes survive a power loss together.
///
/// Idempotence (the `ObjectSink` contract — the flusher may repeat a put after a crash):
/// - the final file exists with identical bytes → success, nothing written;
/// - it exists with different bytes → replaced atomically by the new bytes. This is the
///   same-key retry of a batch re-encoded after a crash (e.g. after a zlib upgrade changed the
///   compressed bytes): the key is the batch's identity and the latest sealed bytes win, as an
///   S3 PUT to the same key would. Readers see either the old or the new file, never a mix.
///
/// Temp files from a crashed process (`.tmp-<pid>` of a pid no longer alive) next to the key
/// are removed on the next put of that key; loaders should ignore names containing `.tmp-`.
/// Concurrent puts of one key from one process are not supported (the flusher serialises a
/// batch); puts of different keys may run concurrently.
///
/// Errors are `SinkError`: ENOSPC/EDQUOT → `.transient` ("disk full", naming the path), so the
/// batch stays in the outbox and is retried with backoff; EACCES/EPERM/EROFS → `.needsOperator`.
public struct LocalSink: ObjectSink {
    public let root: URL
    /// Each put counts as one transfer; the copy records every block it writes.
    public let progress: TransferProgress

    public init(root: URL, progress: TransferProgress = TransferProgress()) {
        self.root = root
        self.progress = progress
    }

    /// The final path of `key` under `root`.
    public func path(forKey key: String) -> String {
        root.appendingPathComponent(key, isDirectory: false).path
    }

    public func put(_ object: SealedObject) throws -> PutReceipt {
        guard Self.isSafeKey(object.key) else {
            throw SinkError(kind: .needsOperator, code: "InvalidKey",
                            message: "object key \(String(reflecting: object.key)) is not a relative path inside the sink root")
        }
        do {
            return try progress.tracking { try putChecked(object) }
        } catch let error as FileSystemError {
            throw error.sinkError
        }
    }

    private func putChecked(_ object: SealedObject) throws -> PutReceipt {
        let finalPath = path(forKey: object.key)
        let directory = FileIO.parent(of: finalPath)
        let source = object.fileURL.path

        let sourceSize = try FileIO.fileSize(source)
        guard let sourceSize else {
            throw SinkError(kind: .needsOperator, code: "SpoolMissing",
                            message: "spool file \(source) for \(object.key) does not exist")
        }
        guard sourceSize == object.byteCount else {
            throw SinkError(kind: .needsOperator, code: "SpoolSizeMismatch",
                            message: "spool file \(source) has \(sourceSize) bytes, batch sealed with \(object.byteCount)")
        }

        try FileIO.makeDirectories(directory)
        removeStaleTempFiles(finalPath: finalPath)

        if try Self.sameContents(source, finalPath, expectedSize: sourceSize) {
            return PutReceipt(location: finalPath)
        }

        let tempPath = finalPath + ".tmp-\(getpid())"
        let input = try FileIO.open(source, O_RDONLY)
        defer { _ = close(input) }
        let output = try FileIO.open(tempPath, O_WRONLY | O_CREAT | O_TRUNC)
        var outputOpen = true
        do {
            let copied = try Self.copy(from: input, sourcePath: source, to: output, destinationPath: tempPath, progress: progress)
            guard copied == object.byteCount else {
                throw SinkError(kind: .needsOperator, code: "SpoolSizeMismatch",
                                message: "spool file \(source) changed while copying: \(copied) bytes, expected \(object.byteCount)")
            }
            try FileIO.fsync(output, path: tempPath)
            outputOpen = false
            try FileIO.close(output, path: tempPath)
            try FileIO.rename(tempPath, finalPath)
            try FileIO.fsyncDirectory(directory)
        } catch {
            if outputOpen { _ = close(output) }
            FileIO.unlinkQuietly(tempPath)
            throw error
        }
        return PutReceipt(location: finalPath)
    }

    /// Copies until end of input with a bounded buffer; returns the byte count. Internal so the
    /// ENOSPC mapping can be exercised against /dev/full as well as a full tmpfs.
    static func copy(from input: Int32, sourcePath: String, to output: Int32, destinationPath: String,
                     progress: TransferProgress? = nil) throws -> Int {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: FileIO.bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let n = try FileIO.read(input, buffer, FileIO.bufferSize, path: sourcePath)
            if n == 0 { return total }
            try FileIO.writeAll(output, UnsafeRawPointer(buffer), n, path: destinationPath)
            progress?.moved(bytes: n)
            total += n
        }
    }

    /// True when `destination` exists with exactly the bytes of `source`.
    static func sameContents(_ source: String, _ destination: String, expectedSize: Int) throws -> Bool {
        guard let size = try FileIO.fileSize(destination), size == expectedSize else { return false }
        let a = try FileIO.open(source, O_RDONLY)
        defer { _ = close(a) }
        let b = try FileIO.open(destination, O_RDONLY)
        defer { _ = close(b) }
        let bufA = UnsafeMutableRawPointer.allocate(byteCount: FileIO.bufferSize, alignment: 16)
        let bufB = UnsafeMutableRawPointer.allocate(byteCount: FileIO.bufferSize, alignment: 16)
        defer { bufA.deallocate(); bufB.deallocate() }
        while true {
            let n = try readFull(a, bufA, path: source)
            let m = try readFull(b, bufB, path: destination)
            if n != m { return false }
            if n == 0 { return true }
            if memcmp(bufA, bufB, n) != 0 { return false }
        }
    }

    /// Reads until the buffer is full or end of file, so two files are compared block by block.
    private static func readFull(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, path: String) throws -> Int {
        var got = 0
        while got < FileIO.bufferSize {
            let n = try FileIO.read(fd, buffer + got, FileIO.bufferSize - got, path: path)
            if n == 0 { break }
            got += n
        }
        return got
    }

    /// Removes `<final>.tmp-<pid>` files whose process is gone (left by a crash mid-copy).
    private func removeStaleTempFiles(finalPath: String) {
        let directory = FileIO.parent(of: finalPath)
        let prefix = String(finalPath[finalPath.index(after: finalPath.lastIndex(of: "/")!)...]) + ".tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                FileIO.unlinkQuietly(directory + "/" + name)
            }
        }
    }

    /// Keys are relative paths without `.`/`..`/empty components or NUL, so nothing lands
    /// outside `root`.
    static func isSafeKey(_ key: String) -> Bool {
        guard !key.isEmpty, !key.hasPrefix("/"), !key.contains("\0") else { return false }
        for part in key.split(separator: "/", omittingEmptySubsequences: false) {
            if part.isEmpty || part == "." || part == ".." { return false }
        }
        return true
    }
}
