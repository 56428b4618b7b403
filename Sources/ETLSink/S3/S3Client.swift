import ETLCore
import ETLHTTP
import FoundationEssentials
import Glibc
import Logging

public struct S3ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int
    public var etag: String
}

public struct S3MultipartUpload: Sendable, Equatable {
    public var key: String
    public var uploadID: String
}

public struct S3CompletedPart: Sendable, Equatable {
    public var partNumber: Int
    public var etag: String
    public var checksumSHA256: String
    public var md5: [UInt8]
}

/// Blocking S3 client: signing, retries, error classification, multipart. Keys given here
/// are full keys (the sink adds its prefix). Every failure is a `SinkError`.
public final class S3Client: Sendable {
    public let settings: S3Settings
    public let endpoint: S3Endpoint
    public let builder: S3RequestBuilder
    private let credentials: AWSCredentialsProvider
    private let transport: HTTPTransport
    private let clock: Clock
    public let retry: S3RetryPolicy
    /// Told about the bytes of every request this client sends (retries included).
    public let progress: TransferProgress
    /// Where multipart upload ids are kept until completed or aborted; nil keeps none (tools).
    public let ledger: MultipartLedger?
    private let logger: Logger

    /// Throws `S3ConfigError` for invalid settings (bucket name, http:// to a non-loopback host).
    public init(settings: S3Settings, credentials: AWSCredentialsProvider, transport: HTTPTransport = CurlHTTPClient(),
                clock: Clock = SystemClock(), retry: S3RetryPolicy = S3RetryPolicy(),
                progress: TransferProgress = TransferProgress(), ledger: MultipartLedger? = nil,
                logger: Logger = Logger(label: "spotifyd-etl.s3")) throws {
        self.ledger = ledger
        self.logger = logger
        self.settings = settings
        self.endpoint = try S3Endpoint(settings: settings)
        self.builder = S3RequestBuilder(endpoint: endpoint, region: settings.region)
        self.credentials = credentials
        self.transport = Self.loggingRequests(transport, logger: logger)
        self.clock = clock
        self.retry = retry
        self.progress = progress
    }

    /// At debug, every S3 request is logged once it ends (method, path with the query's
    /// signature values redacted, status, bytes, ms; never a header), see `RequestLoggingTransport`.
    /// The default logger takes the process-wide level set by `run --log-level`.
    private static func loggingRequests(_ transport: HTTPTransport, logger: Logger) -> HTTPTransport {
        guard logger.logLevel <= .debug else { return transport }
        return RequestLoggingTransport(transport, service: "s3") { entry in
            var metadata: Logger.Metadata = [:]
            for (k, v) in entry.fields { metadata[k] = .string(v) }
            logger.debug("\(entry.message)", metadata: metadata)
        }
    }

    // MARK: core request loop

    /// Sends with retries. 2xx returns; `allow` statuses (e.g. 404 for HEAD) return too.
    /// Retryable failures back off with jitter; credential rejections get exactly one retry
    /// with fresh credentials (if they changed); everything else becomes `.needsOperator`.
    /// A request with an object body (`objectChecksum`: PutObject, UploadPart) runs under
    /// `S3UploadPolicy` instead of a total timeout. A response body longer than `maxBody`
    /// (S3's XML answers: `BodyLimit.s3XML`) is not retried: it fails as `BodyTooLarge`.
    func execute(method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
                 body: Data? = nil, file: FileBody? = nil, digests: BodyDigests? = nil, objectChecksum: Bool = false,
                 allow: Set<Int> = [], maxBody: Int = BodyLimit.s3XML) throws -> HTTPResponse {
        var attempt = 0
        var refreshed = false
        // A file body is hashed once, before the first attempt; retries re-read the range.
        let fileDigests = try file.map { f in try digests ?? BodyDigests(file: f) }
        let digests = body.map { b in digests ?? BodyDigests(b) }
        while true {
            let creds: AWSCredentials
            do { creds = try credentials.credentials() } catch {
                // An unreachable IMDS passes; a chain with no source configured needs an operator.
                let transient = (error as? CredentialsError)?.isTransient ?? false
                throw SinkError(kind: transient ? .transient : .needsOperator, code: "NoCredentials", message: "\(error)")
            }
            var req: HTTPRequest
            if let file, let fileDigests {
                req = builder.build(method: method, key: key, query: query, headers: headers, file: file, digests: fileDigests,
                                    objectChecksum: objectChecksum, credentials: creds, date: clock.now())
            } else {
                req = builder.build(method: method, key: key, query: query, headers: headers, body: body, digests: digests,
                                    objectChecksum: objectChecksum, credentials: creds, date: clock.now())
            }
            req.progress = progress
            req.maxBodyBytes = maxBody
            if objectChecksum {
                req.timeout = S3UploadPolicy.timeout
                req.lowSpeed = S3UploadPolicy.lowSpeed
            }
            let resp: HTTPResponse
            do {
                resp = try transport.send(req)
            } catch let e as HTTPTransportError {
                if case .bodyTooLarge = e.kind {
                    throw SinkError(kind: .transient, code: "BodyTooLarge",
                                    message: Redaction.redact("\(method) \(describe(key)): \(e.message)", secrets: creds.secrets))
                }
                if attempt + 1 < retry.maxAttempts { retry.sleeper(retry.delay(afterAttempt: attempt)); attempt += 1; continue }
                throw SinkError(kind: .transient, code: e.isTimeout ? "Timeout" : "TransportError",
                                message: Redaction.redact("\(method) \(describe(key)): \(e.description)", secrets: creds.secrets))
            }
            if (200..<300).contains(resp.status) || allow.contains(resp.status) { return resp }
            let err = S3ErrorBody.parse(status: resp.status, body: resp.body, headers: resp.headers)
            if S3RetryPolicy.isCredentialRejection(status: resp.status, code: err.code), !refreshed {
                refreshed = true
                credentials.invalidate()
                if let fresh = try? credentials.credentials(), fresh != creds { continue }
            }
            if S3RetryPolicy.isRetryable(status: resp.status, code: err.code) {
                if attempt + 1 < retry.maxAttempts { retry.sleeper(retry.delay(afterAttempt: attempt)); attempt += 1; continue }
                throw sinkError(.transient, err, method: method, key: key, creds: creds)
            }
            throw sinkError(.needsOperator, err, method: method, key: key, creds: creds)
        }
    }

    private func describe(_ key: String?) -> String { "s3://\(settings.bucket)/\(key ?? "")" }

    private func sinkError(_ kind: SinkError.Kind, _ e: S3ErrorBody, method: String, key: String?, creds: AWSCredentials) -> SinkError {
        SinkError(kind: kind, code: e.code,
                  message: Redaction.redact("\(method) \(describe(key)): \(e.message)", secrets: creds.secrets),
                  requestID: e.requestID)
    }

    private static func unquote(_ etag: String?) -> String {
        guard var e = etag else { return "" }
        if e.hasPrefix("W/") { e.removeFirst(2) }
        return e.trimmingScalars { $0 == "\"" }
    }

    // MARK: object operations

    private func objectHeaders(contentType: String?, contentEncoding: String?) -> [(String, String)] {
        var h: [(String, String)] = []
        if let contentType { h.append(("Content-Type", contentType)) }
        if let contentEncoding { h.append(("Content-Encoding", contentEncoding)) }
        if let sc = settings.storageClass, !sc.isEmpty { h.append(("x-amz-storage-class", sc)) }
        return h
    }

    /// PutObject. Confirmed only when S3 answers 200 with ETag = hex MD5 of the body (and,
    /// if echoed, the same SHA-256 checksum).
    @discardableResult
    public func putObject(key: String, body: Data, contentType: String? = nil, contentEncoding: String? = nil) throws -> String {
        let d = BodyDigests(body)
        let resp = try execute(method: "PUT", key: key, headers: objectHeaders(contentType: contentType, contentEncoding: contentEncoding),
                               body: body, digests: d, objectChecksum: true)
        return try confirmPut(resp, digests: d, key: key)
    }

    /// PutObject of a file range, streamed: the range is hashed in one 64 KiB-buffered pass,
    /// then sent from the file, so memory does not grow with the object.
    @discardableResult
    public func putObject(key: String, file: FileBody, contentType: String? = nil, contentEncoding: String? = nil) throws -> String {
        let d = try BodyDigests(file: file)
        let resp = try execute(method: "PUT", key: key, headers: objectHeaders(contentType: contentType, contentEncoding: contentEncoding),
                               file: file, digests: d, objectChecksum: true)
        return try confirmPut(resp, digests: d, key: key)
    }

    private func confirmPut(_ resp: HTTPResponse, digests d: BodyDigests, key: String) throws -> String {
        let etag = S3Client.unquote(resp.header("etag"))
        guard resp.status == 200, etag == d.md5Hex else {
            throw SinkError(kind: .transient, code: "ETagMismatch", message: "PUT \(describe(key)): S3 answered \(resp.status) with ETag \"\(etag)\", expected MD5 \(d.md5Hex)")
        }
        if let sum = resp.header("x-amz-checksum-sha256"), sum != d.sha256Base64 {
            throw SinkError(kind: .transient, code: "ChecksumMismatch", message: "PUT \(describe(key)): checksum \(sum) != \(d.sha256Base64)")
        }
        return etag
    }

    public func createMultipartUpload(key: String, contentType: String? = nil, contentEncoding: String? = nil) throws -> String {
        var h = objectHeaders(contentType: contentType, contentEncoding: contentEncoding)
        h.append(("x-amz-checksum-algorithm", "SHA256"))
        let resp = try execute(method: "POST", key: key, query: [("uploads", "")], headers: h, body: Data())
        guard let id = S3XMLNode.parse(resp.body)?.value("UploadId"), !id.isEmpty else {
            throw SinkError(kind: .transient, code: "MalformedResponse", message: "CreateMultipartUpload \(describe(key)): no UploadId in reply")
        }
        return id
    }

    public func uploadPart(key: String, uploadID: String, partNumber: Int, body: Data) throws -> S3CompletedPart {
        let d = BodyDigests(body)
        let resp = try execute(method: "PUT", key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadID)],
                               body: body, digests: d, objectChecksum: true)
        return try confirmPart(resp, digests: d, key: key, partNumber: partNumber)
    }

    /// UploadPart streamed from a file range (see `putObject(key:file:)`).
    public func uploadPart(key: String, uploadID: String, partNumber: Int, file: FileBody) throws -> S3CompletedPart {
        let d = try BodyDigests(file: file)
        let resp = try execute(method: "PUT", key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadID)],
                               file: file, digests: d, objectChecksum: true)
        return try confirmPart(resp, digests: d, key: key, partNumber: partNumber)
    }

    private func confirmPart(_ resp: HTTPResponse, digests d: BodyDigests, key: String, partNumber: Int) throws -> S3CompletedPart {
        let etag = S3Client.unquote(resp.header("etag"))
        guard etag == d.md5Hex else {
            throw SinkError(kind: .transient, code: "ETagMismatch", message: "UploadPart \(partNumber) \(describe(key)): ETag \"\(etag)\" != MD5 \(d.md5Hex)")
        }
        if let sum = resp.header("x-amz-checksum-sha256"), sum != d.sha256Base64 {
            throw SinkError(kind: .transient, code: "ChecksumMismatch", message: "UploadPart \(partNumber) \(describe(key)): checksum mismatch")
        }
        return S3CompletedPart(partNumber: partNumber, etag: etag, checksumSHA256: d.sha256Base64, md5: d.md5Bytes)
    }

    /// The ETag S3 gives a completed multipart object: MD5 of the concatenated part MD5s, "-N".
    public static func multipartETag(_ parts: [S3CompletedPart]) -> String {
        BodyDigests(Data(parts.flatMap { $0.md5 })).md5Hex + "-\(parts.count)"
    }

    @discardableResult
    public func completeMultipartUpload(key: String, uploadID: String, parts: [S3CompletedPart]) throws -> String {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for p in parts {
            xml += "<Part><PartNumber>\(p.partNumber)</PartNumber><ETag>\"\(p.etag)\"</ETag><ChecksumSHA256>\(p.checksumSHA256)</ChecksumSHA256></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let resp = try execute(method: "POST", key: key, query: [("uploadId", uploadID)],
                               headers: [("Content-Type", "application/xml")], body: Data(xml.utf8))
        // S3 can answer 200 and still put an <Error> in the body of a completion.
        let root = S3XMLNode.parse(resp.body)
        if let root, root.name == "Error" {
            let e = S3ErrorBody.parse(status: 200, body: resp.body, headers: resp.headers)
            let kind: SinkError.Kind = S3RetryPolicy.isRetryable(status: 500, code: e.code) ? .transient : .needsOperator
            throw SinkError(kind: kind, code: e.code, message: "CompleteMultipartUpload \(describe(key)): \(e.message)", requestID: e.requestID)
        }
        let etag = S3Client.unquote(root?.value("ETag") ?? resp.header("etag"))
        let expected = S3Client.multipartETag(parts)
        guard etag == expected else {
            throw SinkError(kind: .transient, code: "ETagMismatch", message: "CompleteMultipartUpload \(describe(key)): ETag \"\(etag)\" != \(expected)")
        }
        return etag
    }

    public func abortMultipartUpload(key: String, uploadID: String) throws {
        _ = try execute(method: "DELETE", key: key, query: [("uploadId", uploadID)], allow: [404])
    }

    /// Uploads a file: one PutObject below the multipart threshold, otherwise multipart with
    /// `settings.partSize` parts. Every body is streamed from the file (hashed in a 64 KiB
    /// pass, then read in 64 KiB chunks as curl sends it), so no part is ever in memory. Any
    /// failure after CreateMultipartUpload aborts the upload so no orphan parts remain; the
    /// upload id is in the `ledger` from before the first part until S3 confirmed the
    /// completion or the abort, so an abort that fails (or a crash) is retried later.
    public func uploadFile(key: String, fileURL: URL, byteCount: Int, contentType: String?, contentEncoding: String?) throws -> String {
        let actual: Int
        do {
            guard let size = try FileIO.fileSize(fileURL.path) else {
                throw FileSystemError(operation: "stat", path: fileURL.path, errno: ENOENT)
            }
            actual = size
        } catch {
            throw SinkError(kind: .needsOperator, code: "SpoolFileMissing", message: "cannot read \(fileURL.path): \(error)")
        }
        guard actual == byteCount else {
            throw SinkError(kind: .needsOperator, code: "SpoolFileSizeMismatch", message: "\(fileURL.path) has \(actual) bytes, batch says \(byteCount)")
        }
        if byteCount < settings.multipartThreshold {
            return try putObject(key: key, file: FileBody(path: fileURL.path, offset: 0, length: byteCount),
                                 contentType: contentType, contentEncoding: contentEncoding)
        }
        let uploadID = try createMultipartUpload(key: key, contentType: contentType, contentEncoding: contentEncoding)
        do {
            try ledger?.started(bucket: settings.bucket, key: key, uploadID: uploadID)
        } catch {
            // Without a record a later failure could leave parts nobody aborts: stop now.
            try? abortMultipartUpload(key: key, uploadID: uploadID)
            throw SinkError(kind: .transient, code: "UploadNotRecorded",
                            message: "CreateMultipartUpload \(describe(key)): cannot record the upload id: \(error)")
        }
        do {
            var parts: [S3CompletedPart] = []
            var offset = 0
            var number = 1
            while offset < byteCount {
                let n = min(settings.partSize, byteCount - offset)
                parts.append(try uploadPart(key: key, uploadID: uploadID, partNumber: number,
                                            file: FileBody(path: fileURL.path, offset: offset, length: n)))
                offset += n
                number += 1
            }
            let etag = try completeMultipartUpload(key: key, uploadID: uploadID, parts: parts)
            try? ledger?.finished(bucket: settings.bucket, key: key, uploadID: uploadID)
            return etag
        } catch {
            abortRecorded(key: key, uploadID: uploadID)
            throw error
        }
    }

    /// Aborts an upload and forgets its id once S3 confirmed (204, or 404 NoSuchUpload: it is
    /// gone either way). A failure stays in the ledger; returns whether the abort landed.
    @discardableResult
    func abortRecorded(key: String, uploadID: String) -> Bool {
        do {
            try abortMultipartUpload(key: key, uploadID: uploadID)
        } catch {
            logger.warning("multipart upload abort failed, kept for a later retry: \(LogText.escaped(describe(key))): \(LogText.escaped("\(error)"))",
                           metadata: ["s3_key": "\(key)", "error_code": "\((error as? SinkError)?.code ?? "abort_failed")"])
            try? ledger?.abortFailed(bucket: settings.bucket, key: key, uploadID: uploadID, error: "\(error)")
            return false
        }
        try? ledger?.finished(bucket: settings.bucket, key: key, uploadID: uploadID)
        return true
    }

    /// Aborts every upload the ledger holds for this bucket (earlier aborts that failed, uploads
    /// cut short by a crash). Returns how many are still open afterwards.
    public func abortOpenUploads() -> Int {
        guard let ledger else { return 0 }
        let open: [OpenMultipartUpload]
        do { open = try ledger.open(bucket: settings.bucket) } catch { return 0 }
        var left = 0
        for u in open {
            if abortRecorded(key: u.key, uploadID: u.uploadID) {
                logger.notice("aborted a multipart upload left open: \(LogText.escaped(describe(u.key)))", metadata: ["s3_key": "\(u.key)"])
            } else {
                left += 1
            }
        }
        return left
    }

    /// Reads one part straight into its own buffer with read(2): FileHandle.read(upToCount:)
    /// on Linux fills a temporary buffer and copies it, doubling the part's footprint.
    public static func readExactly(_ fd: Int32, count: Int, path: String) throws -> Data {
        var data = Data(count: count)
        var got = 0
        var failure: Int32 = 0
        data.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            while got < count {
                let r = read(fd, base + got, count - got)
                if r > 0 { got += r } else if r < 0 && errno == EINTR { continue } else { failure = r < 0 ? errno : 0; break }
            }
        }
        if got != count {
            let why = failure != 0 ? String(cString: strerror(failure)) : "file ended early"
            throw SinkError(kind: .needsOperator, code: failure != 0 ? "SpoolFileUnreadable" : "SpoolFileTruncated", message: "\(path): \(why)")
        }
        return data
    }

    public func headObject(key: String) throws -> S3ObjectInfo? {
        let resp = try execute(method: "HEAD", key: key, allow: [404])
        if resp.status == 404 { return nil }
        return S3ObjectInfo(key: key, size: Int(resp.header("content-length") ?? "") ?? 0, etag: S3Client.unquote(resp.header("etag")))
    }

    /// The stored bytes, exactly (a gzip object is not inflated on the way).
    public func getObject(key: String) throws -> Data {
        try execute(method: "GET", key: key, headers: [("Accept-Encoding", "identity")], maxBody: BodyLimit.s3Object).body
    }

    public func deleteObject(key: String) throws {
        _ = try execute(method: "DELETE", key: key)
    }

    /// ListObjectsV2, following continuation tokens.
    public func listObjects(prefix: String = "") throws -> [S3ObjectInfo] {
        var out: [S3ObjectInfo] = []
        var token: String?
        repeat {
            var q: [(String, String)] = [("list-type", "2"), ("prefix", prefix)]
            if let t = token { q.append(("continuation-token", t)) }
            let root = S3XMLNode.parse(try execute(method: "GET", key: nil, query: q).body)
            for c in root?.all("Contents") ?? [] {
                out.append(S3ObjectInfo(key: c.value("Key") ?? "", size: Int(c.value("Size") ?? "") ?? 0,
                                        etag: S3Client.unquote(c.value("ETag"))))
            }
            token = root?.value("IsTruncated") == "true" ? root?.value("NextContinuationToken") : nil
        } while token != nil
        return out
    }

    public func listMultipartUploads(prefix: String = "") throws -> [S3MultipartUpload] {
        let root = S3XMLNode.parse(try execute(method: "GET", key: nil, query: [("uploads", ""), ("prefix", prefix)]).body)
        return (root?.all("Upload") ?? []).map { S3MultipartUpload(key: $0.value("Key") ?? "", uploadID: $0.value("UploadId") ?? "") }
    }
}
