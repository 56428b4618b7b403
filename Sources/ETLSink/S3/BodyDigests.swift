import Crypto
import ETLHTTP
import FoundationEssentials
import Glibc

/// Digests of one request body, computed once: the SigV4 payload hash (hex SHA-256), the
/// `x-amz-checksum-sha256` value (base64 SHA-256) and `Content-MD5` (base64 MD5), whose hex
/// form is also the ETag S3 must echo for a single PUT or a part.
public struct BodyDigests: Sendable, Equatable {
    public var sha256Hex: String
    public var sha256Base64: String
    public var md5Base64: String
    public var md5Hex: String
    public var md5Bytes: [UInt8]

    public init(_ body: Data) {
        self.init(sha256: Array(SHA256.hash(data: body)), md5: Array(Insecure.MD5.hash(data: body)))
    }

    init(sha256 sha: [UInt8], md5: [UInt8]) {
        sha256Hex = SigV4Signer.hex(sha)
        sha256Base64 = Data(sha).base64EncodedString()
        md5Bytes = md5
        md5Hex = SigV4Signer.hex(md5)
        md5Base64 = Data(md5).base64EncodedString()
    }

    /// Chunk size of the hashing pass: small enough that the chunk stays in cache between the
    /// SHA-256 and MD5 updates, large enough that syscalls cost nothing measurable.
    public static let fileChunk = 64 << 10

    /// Digests of a file range, streamed with one 64 KiB buffer: the signature needs the
    /// payload hash before the first byte is sent, so a streamed body takes a separate
    /// hashing pass over the file instead of a copy of the part in memory.
    /// Throws `SinkError` (needsOperator) if the file cannot be read or is shorter than the range.
    public init(file: FileBody) throws {
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw SinkError(kind: .needsOperator, code: "SpoolFileUnreadable", message: "cannot open \(file.path): \(String(cString: strerror(e)))")
        }
        defer { close(fd) }
        try self.init(fileDescriptor: fd, range: file)
    }

    /// As `init(file:)`, on an already open descriptor (pread(2), so its offset is untouched).
    public init(fileDescriptor fd: Int32, range file: FileBody) throws {
        var sha = SHA256()
        var md5 = Insecure.MD5()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: BodyDigests.fileChunk, alignment: 64)
        defer { buffer.deallocate() }
        var done = 0
        while done < file.length {
            let want = min(BodyDigests.fileChunk, file.length - done)
            let r = pread(fd, buffer.baseAddress!, want, off_t(file.offset + done))
            if r > 0 {
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<r])
                sha.update(bufferPointer: chunk)
                md5.update(bufferPointer: chunk)
                done += r
            } else if r < 0 && errno == EINTR {
                continue
            } else {
                let why = r < 0 ? String(cString: strerror(errno)) : "file ended at byte \(file.offset + done), range needs \(file.offset + file.length)"
                throw SinkError(kind: .needsOperator, code: r < 0 ? "SpoolFileUnreadable" : "SpoolFileTruncated", message: "\(file.path): \(why)")
            }
        }
        self.init(sha256: Array(sha.finalize()), md5: Array(md5.finalize()))
    }
}
