import CZlib
import FoundationEssentials

/// Errors from zlib itself (not from the file system, which throws `FileSystemError`).
public struct GzipError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "gzip: \(message)" }
}

/// Streaming gzip compression into a file descriptor, with bounded memory.
///
/// Why deterministic: a sealed batch must be byte-identical on every retry, and object stores
/// and Snowpipe key on names, not content. So the gzip header is pinned: mtime 0, no file
/// name, no comment, no extra field, OS byte 255 ("unknown") — set via `deflateSetHeader`
/// instead of zlib's default, which would stamp the build's OS code. With the same zlib
/// build, the same input bytes give the same output however they are split across `write`
/// calls (Z_NO_FLUSH; pinned by GzipWriterTests.testOutputIsIndependentOfInputChunking), and
/// the batch writer's chunking depends only on the content anyway. A different zlib version
/// may compress differently; that changes only a re-encoded spool file, never the object name.
///
/// Memory: zlib's own state (~256 KiB with windowBits 15, memLevel 8) plus one 64 KiB output buffer.
/// The writer does not own or close the file descriptor.
public final class GzipWriter {
    public let fileDescriptor: Int32
    /// For error messages only.
    public let path: String
    /// Uncompressed bytes accepted so far.
    public private(set) var bytesIn: Int = 0
    /// Compressed bytes written to the descriptor so far.
    public private(set) var bytesOut: Int = 0

    // z_stream must not move: zlib keeps a back pointer to it and checks it on every call.
    private let stream: UnsafeMutablePointer<z_stream>
    private let header: UnsafeMutablePointer<gz_header>
    private var output: [UInt8]
    private var state: State = .open

    private enum State { case open, finished, failed }

    /// Level 1, not zlib's default 6: compression was the largest single cost of an initial
    /// load, and on this daemon's own NDJSON level 1 makes objects about 8% larger than level
    /// 6 for about a tenth less CPU over the whole load (docs/benchmarks.md, "Gzip level").
    /// Staging objects are read once by the loader; the VM's CPU is what the operator pays.
    public static let defaultLevel: Int32 = 1

    /// - Parameters:
    ///   - level: deflate level, `defaultLevel` unless given.
    public init(fileDescriptor: Int32, path: String = "<fd>", level: Int32 = GzipWriter.defaultLevel) throws {
        self.fileDescriptor = fileDescriptor
        self.path = path
        self.output = [UInt8](repeating: 0, count: FileIO.bufferSize)
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        header = UnsafeMutablePointer<gz_header>.allocate(capacity: 1)
        header.initialize(to: gz_header())
        // windowBits 15 + 16 selects the gzip wrapper; memLevel 8 is zlib's default.
        let rc = deflateInit2_(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deinitialize(count: 1); stream.deallocate()
            header.deinitialize(count: 1); header.deallocate()
            throw GzipError("deflateInit2 failed (\(rc))")
        }
        header.pointee.text = 0
        header.pointee.time = 0
        header.pointee.os = 255
        header.pointee.extra = nil
        header.pointee.name = nil
        header.pointee.comment = nil
        header.pointee.hcrc = 0
        let hrc = deflateSetHeader(stream, header)
        guard hrc == Z_OK else {
            deflateEnd(stream)
            stream.deinitialize(count: 1); stream.deallocate()
            header.deinitialize(count: 1); header.deallocate()
            throw GzipError("deflateSetHeader failed (\(hrc))")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1); stream.deallocate()
        header.deinitialize(count: 1); header.deallocate()
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }

    /// Compresses `bytes`, writing whatever output zlib produces. Input of any size is fed in
    /// ≤ 1 GiB slices (avail_in is 32-bit).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard state == .open else { throw GzipError("write after finish or failure") }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, 1 << 30)
            stream.pointee.next_in = UnsafeMutablePointer(mutating: base.advanced(by: offset).assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(n)
            try pump(flush: Z_NO_FLUSH)
            offset += n
        }
        bytesIn += bytes.count
    }

    /// Writes the final deflate block and the gzip trailer (CRC-32, size). Does not fsync or
    /// close the descriptor: the caller decides durability.
    public func finish() throws {
        guard state == .open else {
            if state == .finished { return }
            throw GzipError("finish after failure")
        }
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        try pump(flush: Z_FINISH)
        state = .finished
    }

    /// Runs deflate until it has consumed all input (Z_NO_FLUSH) or ended the stream (Z_FINISH),
    /// writing each full or final output buffer to the descriptor.
    private func pump(flush: Int32) throws {
        let capacity = output.count
        try output.withUnsafeMutableBytes { out in
            let outBase = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
            while true {
                stream.pointee.next_out = outBase
                stream.pointee.avail_out = uInt(capacity)
                let rc = deflate(stream, flush)
                if rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR {
                    state = .failed
                    throw GzipError("deflate failed (\(rc))")
                }
                let produced = capacity - Int(stream.pointee.avail_out)
                if produced > 0 {
                    do {
                        try FileIO.writeAll(fileDescriptor, UnsafeRawPointer(outBase), produced, path: path)
                    } catch {
                        state = .failed
                        throw error
                    }
                    bytesOut += produced
                }
                if flush == Z_FINISH {
                    if rc == Z_STREAM_END { return }
                } else if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 {
                    return
                }
            }
        }
    }
}

/// Decompresses gzip data, including several concatenated members (RFC 1952 §2.2; what
/// `gzip -dc` does for `cat a.gz b.gz`). For tests and readers of local objects. Holds the
/// whole result in memory, so it is not for the daemon's hot path. Throws on corrupt or
/// truncated input and on trailing bytes that are not a gzip member.
public func gunzip(_ data: Data) throws -> Data {
    var result = Data()
    if data.isEmpty { return result }
    var strm = z_stream()
    // 15 + 16: gzip wrapper only, so a zlib or raw stream is rejected rather than guessed.
    let initRC = inflateInit2_(&strm, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard initRC == Z_OK else { throw GzipError("inflateInit2 failed (\(initRC))") }
    defer { inflateEnd(&strm) }
    var buffer = [UInt8](repeating: 0, count: FileIO.bufferSize)
    var ended = false
    try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
        let base = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
        var offset = 0
        while true {
            if strm.avail_in == 0 {
                if offset >= input.count { break }
                let n = min(input.count - offset, 1 << 30)
                strm.next_in = UnsafeMutablePointer(mutating: base + offset)
                strm.avail_in = uInt(n)
                offset += n
            }
            let (rc, produced): (Int32, Int) = buffer.withUnsafeMutableBytes { out in
                strm.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                strm.avail_out = uInt(out.count)
                let rc = inflate(&strm, Z_NO_FLUSH)
                return (rc, out.count - Int(strm.avail_out))
            }
            if produced > 0 { result.append(contentsOf: buffer[0..<produced]) }
            switch rc {
            case Z_STREAM_END:
                ended = true
                if strm.avail_in > 0 || offset < input.count {
                    // Another member follows.
                    guard inflateReset(&strm) == Z_OK else { throw GzipError("inflateReset failed") }
                    ended = false
                }
            case Z_OK:
                ended = false
            case Z_BUF_ERROR where strm.avail_in == 0:
                continue // needs more input; the loop refills or stops
            default:
                let msg = strm.msg.map { String(cString: $0) } ?? "code \(rc)"
                throw GzipError("corrupt input: \(msg)")
            }
        }
    }
    guard ended else { throw GzipError("truncated input") }
    return result
}
