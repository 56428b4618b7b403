import Crypto
import ETLCore
import ETLHTTP
import ETLTestSupport
import Foundation
import Synchronization
import XCTest

@testable import ETLSink

/// Bodies streamed from a file range (`HTTPRequest.bodyFile`): exactly the range's bytes go
/// out, and the signed digest headers describe those bytes. Checked against a real moto
/// server (which stores what it received and recomputes the MD5 ETag) and, for the headers,
/// independently of our own digest code.
final class S3StreamedBodyTests: XCTestCase {
    static let bucket = "etl-stream-bucket"
    /// One moto for the whole class (it takes seconds to start).
    static let sharedMoto = Guarded<MotoServer?>(nil)

    override class func setUp() {
        super.setUp()
        let started = try? MotoServer(buckets: [bucket])
        sharedMoto.withLock { $0 = started }
    }

    override class func tearDown() {
        sharedMoto.withLock { moto in
            moto?.stop()
            moto = nil
        }
        super.tearDown()
    }

    var moto: MotoServer { get throws { try XCTUnwrap(Self.sharedMoto.withLock { $0 }, "moto server failed to start") } }

    /// Records every request (as sent, including its `bodyFile`) and passes it to libcurl.
    final class RecordingTransport: HTTPTransport {
        let inner = CurlHTTPClient()
        private let log = Guarded<[HTTPRequest]>([])
        var sent: [HTTPRequest] { log.withLock { $0 } }
        func send(_ request: HTTPRequest) throws -> HTTPResponse {
            log.withLock { $0.append(request) }
            return try inner.send(request)
        }
    }

    func client(_ transport: HTTPTransport) throws -> S3Client {
        let settings = S3Settings(bucket: Self.bucket, region: "us-east-1", endpoint: try moto.endpoint, pathStyle: true)
        let creds = StaticCredentialsProvider(AWSCredentials(accessKeyID: try moto.accessKey, secretAccessKey: try moto.secretKey))
        return try S3Client(settings: settings, credentials: creds, transport: transport,
                            retry: S3RetryPolicy(maxAttempts: 2, baseDelay: 0.001, maxDelay: 0.001, sleeper: { _ in }))
    }

    /// A file whose bytes differ everywhere (so an off-by-one offset changes the digests).
    func makeFile(_ n: Int, seed: UInt64) throws -> (URL, Data) {
        var x = seed
        var bytes = [UInt8](repeating: 0, count: n)
        for i in 0..<n { x = x &* 6364136223846793005 &+ 1442695040888963407; bytes[i] = UInt8(truncatingIfNeeded: x >> 33) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("s3stream-\(UUID().uuidString).bin")
        let data = Data(bytes)
        try data.write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return (url, data)
    }

    func header(_ req: HTTPRequest, _ name: String) -> String? {
        req.headers.first { $0.0.lowercased() == name }?.1
    }

    /// Recomputes the three body digests from `bytes` with swift-crypto directly and compares
    /// them with what the request carried.
    func assertDigestHeaders(_ req: HTTPRequest, describe bytes: Data, file: StaticString = #filePath, line: UInt = #line) {
        let sha = Array(SHA256.hash(data: bytes))
        XCTAssertEqual(header(req, "x-amz-content-sha256"), sha.map { String(format: "%02x", $0) }.joined(), file: file, line: line)
        XCTAssertEqual(header(req, "x-amz-checksum-sha256"), Data(sha).base64EncodedString(), file: file, line: line)
        XCTAssertEqual(header(req, "content-md5"), Data(Insecure.MD5.hash(data: bytes)).base64EncodedString(), file: file, line: line)
    }

    func testPutObjectFromAFileRangeSendsExactlyThatRange() throws {
        let (url, all) = try makeFile(3 << 20, seed: 11)
        // Not 64 KiB-aligned at either end, longer than several read chunks.
        let range = FileBody(path: url.path, offset: 100_003, length: (1 << 20) + 70_017)
        let expected = all.subdata(in: range.offset..<(range.offset + range.length))
        let transport = RecordingTransport()
        let s3 = try client(transport)

        let etag = try s3.putObject(key: "range/put.bin", file: range, contentType: "application/octet-stream")

        XCTAssertEqual(etag, Insecure.MD5.hash(data: expected).map { String(format: "%02x", $0) }.joined())
        XCTAssertEqual(try s3.getObject(key: "range/put.bin"), expected)
        let put = try XCTUnwrap(transport.sent.first { $0.method == "PUT" })
        XCTAssertNil(put.body, "streamed, not held in memory")
        XCTAssertEqual(put.bodyFile, range)
        assertDigestHeaders(put, describe: expected)
    }

    func testUploadPartFromAnOffsetSendsExactlyThatRange() throws {
        let (url, all) = try makeFile(2 << 20, seed: 12)
        let range = FileBody(path: url.path, offset: 777, length: (1 << 20) + 1)
        let expected = all.subdata(in: range.offset..<(range.offset + range.length))
        let transport = RecordingTransport()
        let s3 = try client(transport)

        let id = try s3.createMultipartUpload(key: "range/part.bin")
        let part = try s3.uploadPart(key: "range/part.bin", uploadID: id, partNumber: 1, file: range)
        try s3.completeMultipartUpload(key: "range/part.bin", uploadID: id, parts: [part])

        XCTAssertEqual(part.md5, Array(Insecure.MD5.hash(data: expected)))
        XCTAssertEqual(part.checksumSHA256, Data(SHA256.hash(data: expected)).base64EncodedString())
        XCTAssertEqual(try s3.getObject(key: "range/part.bin"), expected)
        let put = try XCTUnwrap(transport.sent.first { $0.method == "PUT" && $0.url.contains("partNumber=1") })
        XCTAssertNil(put.body)
        XCTAssertEqual(put.bodyFile, range)
        assertDigestHeaders(put, describe: expected)
    }

    /// A whole multipart upload through the sink streams every part from its own offset.
    func testMultipartSinkStreamsEveryPartFromItsOffset() throws {
        let (url, all) = try makeFile((11 << 20) + 4321, seed: 13)
        let transport = RecordingTransport()
        let settings = S3Settings(bucket: Self.bucket, prefix: "mp/", region: "us-east-1", endpoint: try moto.endpoint, pathStyle: true,
                                  multipartThreshold: 5 << 20, partSize: 5 << 20)
        let creds = StaticCredentialsProvider(AWSCredentials(accessKeyID: try moto.accessKey, secretAccessKey: try moto.secretKey))
        let sink = try S3Sink(settings: settings, credentials: creds, transport: transport)
        let receipt = try sink.put(SealedObject(key: "x.bin", fileURL: url, byteCount: all.count, contentType: "application/octet-stream", contentEncoding: nil))
        XCTAssertEqual(receipt.etag?.hasSuffix("-3"), true)
        XCTAssertEqual(try sink.client.getObject(key: "mp/x.bin"), all)
        let parts = transport.sent.filter { $0.method == "PUT" }
        XCTAssertEqual(parts.map { $0.bodyFile?.offset }, [0, 5 << 20, 10 << 20])
        XCTAssertEqual(parts.map { $0.bodyFile?.length }, [5 << 20, 5 << 20, (1 << 20) + 4321])
        for p in parts {
            let f = try XCTUnwrap(p.bodyFile)
            assertDigestHeaders(p, describe: all.subdata(in: f.offset..<(f.offset + f.length)))
        }
        // Parts: no total timeout, cut only by the low-speed limit; the small XML requests
        // keep their total timeout. Every request reports to the sink's progress.
        for p in parts {
            XCTAssertEqual(p.timeout, 0)
            XCTAssertEqual(p.lowSpeed, LowSpeedLimit(bytesPerSecond: 1024, seconds: 60))
        }
        let xml = transport.sent.filter { $0.method != "PUT" }
        XCTAssertFalse(xml.isEmpty)
        for r in xml {
            XCTAssertEqual(r.timeout, 120, "\(r.method) \(r.url)")
            XCTAssertNil(r.lowSpeed)
        }
        XCTAssertTrue(transport.sent.allSatisfy { $0.progress === sink.progress })
        XCTAssertGreaterThanOrEqual(sink.progress.totalBytes, all.count * 2, "parts up, then the object down")
        XCTAssertEqual(sink.progress.activeTransfers, 0)
    }

    /// The file-range request is signed exactly like the same bytes given as `Data`.
    func testFileRangeRequestIsSignedLikeTheSameBytesInMemory() throws {
        let (url, all) = try makeFile(300_000, seed: 14)
        let range = FileBody(path: url.path, offset: 65_537, length: 200_000)
        let bytes = all.subdata(in: range.offset..<(range.offset + range.length))
        let builder = S3RequestBuilder(endpoint: try S3Endpoint(settings: S3Settings(bucket: "etl-bucket", endpoint: "http://127.0.0.1:9", pathStyle: true)),
                                       region: "us-east-1")
        let creds = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret")
        let date = Date(timeIntervalSince1970: 1_764_067_200)
        let d = try BodyDigests(file: range)
        XCTAssertEqual(d, BodyDigests(bytes))
        let streamed = builder.build(method: "PUT", key: "k", query: [("partNumber", "3"), ("uploadId", "u")], file: range, digests: d,
                                     objectChecksum: true, credentials: creds, date: date)
        let inMemory = builder.build(method: "PUT", key: "k", query: [("partNumber", "3"), ("uploadId", "u")], body: bytes,
                                     objectChecksum: true, credentials: creds, date: date)
        XCTAssertEqual(streamed.headers.map { "\($0.0): \($0.1)" }, inMemory.headers.map { "\($0.0): \($0.1)" })
        XCTAssertEqual(streamed.url, inMemory.url)
        XCTAssertNil(streamed.body)
        XCTAssertEqual(streamed.bodyFile, range)
    }

    /// A range past the end of the file is a clear error, never a short or padded upload.
    func testRangePastEndOfFileFailsCleanly() throws {
        let (url, _) = try makeFile(10_000, seed: 15)
        let range = FileBody(path: url.path, offset: 5_000, length: 6_000)
        XCTAssertThrowsError(try BodyDigests(file: range)) { e in
            XCTAssertEqual((e as? SinkError)?.code, "SpoolFileTruncated")
        }
        let s3 = try client(RecordingTransport())
        XCTAssertThrowsError(try s3.putObject(key: "range/short.bin", file: range)) { e in
            XCTAssertEqual((e as? SinkError)?.code, "SpoolFileTruncated")
            XCTAssertEqual((e as? SinkError)?.kind, .needsOperator)
        }
        XCTAssertNil(try s3.headObject(key: "range/short.bin"))
        // The transport itself aborts rather than sending fewer bytes than Content-Length says.
        let req = HTTPRequest(method: "PUT", url: try moto.endpoint + "/\(Self.bucket)/raw", bodyFile: range)
        XCTAssertThrowsError(try CurlHTTPClient().send(req)) { e in
            let te = e as? HTTPTransportError
            XCTAssertNotNil(te, "\(e)")
            XCTAssertTrue(te?.message.contains("ended at byte 10000") ?? false, te?.message ?? "")
        }
        let missing = HTTPRequest(method: "PUT", url: try moto.endpoint + "/\(Self.bucket)/raw",
                                  bodyFile: FileBody(path: url.path + ".missing", length: 1))
        XCTAssertThrowsError(try CurlHTTPClient().send(missing)) { e in
            XCTAssertTrue((e as? HTTPTransportError)?.message.contains("cannot open") ?? false, "\(e)")
        }
    }
}
