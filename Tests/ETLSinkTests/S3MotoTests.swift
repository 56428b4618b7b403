import ETLCore
import ETLHTTP
import ETLTestSupport
import Foundation
import Synchronization
import XCTest

@testable import ETLSink

/// Passes requests to the real libcurl transport, but sends chosen ones to a closed loopback
/// port instead, so curl reports a real connection failure in the middle of a multipart upload.
final class FailingTransport: HTTPTransport {
    let inner = CurlHTTPClient()
    let shouldFail: @Sendable (HTTPRequest) -> Bool
    private let state = Guarded<(sent: [HTTPRequest], failed: Int)>(([], 0))
    /// Every request seen, without its body.
    var sent: [HTTPRequest] { state.withLock { $0.sent } }
    /// How many requests were sent to the closed port.
    var failed: Int { state.withLock { $0.failed } }
    init(shouldFail: @escaping @Sendable (HTTPRequest) -> Bool) { self.shouldFail = shouldFail }
    func send(_ request: HTTPRequest) throws -> HTTPResponse {
        let fail = shouldFail(request)
        state.withLock { state in
            state.sent.append(HTTPRequest(method: request.method, url: request.url, headers: request.headers, body: nil))
            if fail { state.failed += 1 }
        }
        var req = request
        if fail, let r = req.url.range(of: "://127.0.0.1:") {
            let after = req.url[r.upperBound...]
            let slash = after.firstIndex(of: "/") ?? after.endIndex
            req.url = String(req.url[..<r.upperBound]) + "1" + String(after[slash...])
        }
        return try inner.send(req)
    }
}

/// S3Sink/S3Client against a real S3 peer with signature checking on: moto here, SeaweedFS in
/// the subclass S3SeaweedFSTests below (the same tests, another `backend`).
class S3MotoTests: XCTestCase {
    static let bucket = "etl-test-bucket"
    /// The S3 peer this class runs against.
    class var backend: S3Backend { .moto }
    /// One peer per backend for the whole class (it takes seconds to start).
    static let sharedPeers = SharedS3Peers()

    override class func setUp() {
        super.setUp()
        sharedPeers.start(backend, buckets: [bucket])
    }

    override class func tearDown() {
        sharedPeers.stop(backend)
        super.tearDown()
    }

    var peer: any S3TestPeer {
        get throws { try Self.sharedPeers.peer(Self.backend) }
    }

    static let noSleep = S3RetryPolicy(maxAttempts: 3, baseDelay: 0.001, maxDelay: 0.002, sleeper: { _ in })

    func settings(prefix: String = "warehouse/", threshold: Int = 5 << 20) throws -> S3Settings {
        S3Settings(bucket: Self.bucket, prefix: prefix, region: "us-east-1", endpoint: try peer.endpoint, pathStyle: true,
                   multipartThreshold: threshold, partSize: 5 << 20)
    }

    func goodCreds() throws -> StaticCredentialsProvider {
        StaticCredentialsProvider(AWSCredentials(accessKeyID: try peer.accessKey, secretAccessKey: try peer.secretKey))
    }

    func spool(_ bytes: Data, key: String) throws -> SealedObject {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("s3test-\(UUID().uuidString).gz")
        try bytes.write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return SealedObject(key: key, fileURL: url, byteCount: bytes.count, contentType: "application/x-ndjson", contentEncoding: "gzip")
    }

    static func pseudoRandom(_ n: Int, seed: UInt64) -> Data {
        var x = seed
        var out = [UInt8](repeating: 0, count: n)
        for i in 0..<n { x = x &* 6364136223846793005 &+ 1442695040888963407; out[i] = UInt8(truncatingIfNeeded: x >> 33) }
        return Data(out)
    }

    func testPutObjectRoundTripsKeysWithEqualsSpacesUnicodeAndPlus() throws {
        let sink = try S3Sink(settings: try settings(), credentials: try goodCreds(), retry: Self.noSleep)
        let keys = ["table=plays/dt=2026-11-25/part-0001.ndjson.gz", "odd keys/a b+c=d%e/ü ñ 東京.gz", "dt=2026-01-01/hour=03/x~y.gz"]
        for (i, key) in keys.enumerated() {
            let bytes = Self.pseudoRandom(1000 + i, seed: UInt64(i + 1))
            let receipt = try sink.put(try spool(bytes, key: key))
            XCTAssertEqual(receipt.location, "s3://\(Self.bucket)/warehouse/\(key)")
            XCTAssertEqual(receipt.etag, BodyDigests(bytes).md5Hex)
            XCTAssertEqual(try sink.client.getObject(key: "warehouse/" + key), bytes)
            let head = try XCTUnwrap(try sink.client.headObject(key: "warehouse/" + key))
            XCTAssertEqual(head.size, bytes.count)
            XCTAssertEqual(head.etag, BodyDigests(bytes).md5Hex)
            // The headers the daemon wrote are stored with the object and served back.
            let raw = try sink.client.execute(method: "HEAD", key: "warehouse/" + key)
            XCTAssertEqual(raw.header("content-type"), "application/x-ndjson", "\(Self.backend)")
            XCTAssertEqual(raw.header("content-encoding"), "gzip", "\(Self.backend)")
        }
        // prefix=warehouse%2Fdt%3D… must be signed and answered correctly.
        let listed = try sink.client.listObjects(prefix: "warehouse/dt=2026-01-01/")
        XCTAssertEqual(listed.map(\.key), ["warehouse/dt=2026-01-01/hour=03/x~y.gz"])
        XCTAssertNil(try sink.client.headObject(key: "warehouse/does-not-exist"))
        // Idempotent: the same key and bytes again succeed.
        let again = Self.pseudoRandom(1000, seed: 1)
        XCTAssertNoThrow(try sink.put(try spool(again, key: keys[0])))
        try sink.client.deleteObject(key: "warehouse/" + keys[1])
        XCTAssertNil(try sink.client.headObject(key: "warehouse/" + keys[1]))
    }

    func testMultipartAboveThresholdUploadsOneObjectWithTheSameBytes() throws {
        let sink = try S3Sink(settings: try settings(prefix: "mp/"), credentials: try goodCreds(), retry: Self.noSleep)
        let bytes = Self.pseudoRandom(12 << 20 + 12345, seed: 42)
        let receipt = try sink.put(try spool(bytes, key: "dt=2026-11-25/big part.ndjson.gz"))
        XCTAssertTrue(receipt.etag?.hasSuffix("-3") ?? false, "\(receipt.etag ?? "nil")")
        // S3's multipart ETag: MD5 of the parts' binary MD5s, "-" part count.
        let partMD5s = stride(from: 0, to: bytes.count, by: 5 << 20).reduce(into: Data()) { acc, start in
            acc.append(contentsOf: BodyDigests(bytes.subdata(in: start..<min(start + (5 << 20), bytes.count))).md5Bytes)
        }
        XCTAssertEqual(receipt.etag, BodyDigests(partMD5s).md5Hex + "-3", "\(Self.backend)")
        let listed = try sink.client.listObjects(prefix: "mp/")
        XCTAssertEqual(listed.count, 1)
        XCTAssertEqual(listed.first?.key, "mp/dt=2026-11-25/big part.ndjson.gz")
        XCTAssertEqual(listed.first?.size, bytes.count)
        XCTAssertEqual(try sink.client.getObject(key: "mp/dt=2026-11-25/big part.ndjson.gz"), bytes)
        XCTAssertEqual(try sink.client.listMultipartUploads(prefix: "mp/"), [])
    }

    func testFailureMidMultipartAbortsTheUpload() throws {
        let transport = FailingTransport { $0.url.contains("partNumber=2") }
        let sink = try S3Sink(settings: try settings(prefix: "abort/"), credentials: try goodCreds(), transport: transport, retry: Self.noSleep)
        let obj = try spool(Self.pseudoRandom(11 << 20, seed: 7), key: "dt=2026-11-25/fails.gz")
        XCTAssertThrowsError(try sink.put(obj)) { e in
            let se = e as? SinkError
            XCTAssertEqual(se?.kind, .transient)
            XCTAssertEqual(se?.code, "TransportError")
        }
        XCTAssertEqual(transport.failed, 3, "part 2 retried up to maxAttempts")
        XCTAssertTrue(transport.sent.contains { $0.method == "DELETE" && $0.url.contains("uploadId=") }, "abort was sent")
        XCTAssertEqual(try sink.client.listMultipartUploads(prefix: "abort/"), [])
        XCTAssertEqual(try sink.client.listObjects(prefix: "abort/"), [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: obj.fileURL.path), "spool file kept")
    }

    func testWrongSecretIsSignatureDoesNotMatchNeedsOperatorAndFixingTheKeySucceeds() throws {
        let bad = StaticCredentialsProvider(AWSCredentials(accessKeyID: try peer.accessKey, secretAccessKey: "definitely-wrong-secret"))
        let sleeps = Counter()
        let counting = S3RetryPolicy(maxAttempts: 3, baseDelay: 0.001, maxDelay: 0.001, sleeper: { _ in sleeps.increment() })
        let obj = try spool(Self.pseudoRandom(2048, seed: 9), key: "dt=2026-11-25/auth.gz")
        let badSink = try S3Sink(settings: try settings(prefix: "auth/"), credentials: bad, retry: counting)
        XCTAssertThrowsError(try badSink.put(obj)) { e in
            guard let se = e as? SinkError else { return XCTFail("\(e)") }
            XCTAssertEqual(se.kind, .needsOperator)
            XCTAssertEqual(se.code, "SignatureDoesNotMatch")
            XCTAssertFalse(se.description.contains("definitely-wrong-secret"))
        }
        XCTAssertEqual(sleeps.value, 0, "403 is not retried blindly")
        XCTAssertTrue(FileManager.default.fileExists(atPath: obj.fileURL.path))
        // An access key the server does not know: InvalidAccessKeyId, also for the operator.
        let unknown = StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDNOSUCHKEY0000000", secretAccessKey: try peer.secretKey))
        let unknownSink = try S3Sink(settings: try settings(prefix: "auth/"), credentials: unknown, retry: counting)
        XCTAssertThrowsError(try unknownSink.put(obj)) { e in
            XCTAssertEqual((e as? SinkError)?.kind, .needsOperator, "\(e)")
            XCTAssertEqual((e as? SinkError)?.code, "InvalidAccessKeyId", "\(e)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: obj.fileURL.path))
        XCTAssertEqual(try S3Sink(settings: try settings(prefix: "auth/"), credentials: try goodCreds(), retry: Self.noSleep)
            .client.listObjects(prefix: "auth/"), [], "nothing was stored")
        let goodSink = try S3Sink(settings: try settings(prefix: "auth/"), credentials: try goodCreds(), retry: Self.noSleep)
        XCTAssertNoThrow(try goodSink.put(obj))
        XCTAssertEqual(try goodSink.client.listObjects(prefix: "auth/").count, 1)
    }

    /// 503 SlowDown / 500 twice, then the real moto: retried with (injected) sleeps, succeeds.
    func testSlowDownAndInternalErrorAreRetriedWithBackoff() throws {
        final class Flaky: HTTPTransport {
            let inner = CurlHTTPClient()
            private let failures = Guarded([(503, "SlowDown"), (500, "InternalError")])
            func send(_ request: HTTPRequest) throws -> HTTPResponse {
                if let (s, c) = failures.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                    return HTTPResponse(status: s, headers: [], body: Data("<Error><Code>\(c)</Code><Message>m</Message><RequestId>r</RequestId></Error>".utf8))
                }
                return try inner.send(request)
            }
        }
        final class Sleeps: Sendable {
            private let log = Guarded<[Double]>([])
            var d: [Double] { log.withLock { $0 } }
            func record(_ seconds: Double) { log.withLock { $0.append(seconds) } }
        }
        let sleeps = Sleeps()
        let policy = S3RetryPolicy(maxAttempts: 4, baseDelay: 0.1, maxDelay: 1, sleeper: { sleeps.record($0) }, random: { 0.5 })
        let sink = try S3Sink(settings: try settings(prefix: "retry/"), credentials: try goodCreds(), transport: Flaky(), retry: policy)
        XCTAssertNoThrow(try sink.put(try spool(Data("retry me".utf8), key: "dt=2026-11-25/r.gz")))
        XCTAssertEqual(sleeps.d.count, 2)
        XCTAssertEqual(sleeps.d[0], 0.075, accuracy: 1e-9)
        XCTAssertEqual(sleeps.d[1], 0.15, accuracy: 1e-9)
        // Exhausted retries surface as transient with S3's code and request id.
        final class AlwaysSlow: HTTPTransport {
            func send(_ request: HTTPRequest) throws -> HTTPResponse {
                HTTPResponse(status: 503, headers: [], body: Data("<Error><Code>SlowDown</Code><Message>m</Message><RequestId>RID9</RequestId></Error>".utf8))
            }
        }
        let slow = try S3Sink(settings: try settings(prefix: "retry/"), credentials: try goodCreds(), transport: AlwaysSlow(), retry: Self.noSleep)
        XCTAssertThrowsError(try slow.put(try spool(Data("x".utf8), key: "y"))) { e in
            XCTAssertEqual((e as? SinkError)?.kind, .transient)
            XCTAssertEqual((e as? SinkError)?.code, "SlowDown")
            XCTAssertEqual((e as? SinkError)?.requestID, "RID9")
        }
    }

    /// Counts calls from any thread.
    final class Counter: Sendable {
        private let n = Guarded(0)
        var value: Int { n.withLock { $0 } }
        func increment() { n.withLock { $0 += 1 } }
    }

    func testNoSuchBucketNeedsOperator() throws {
        var s = try settings()
        s.bucket = "no-such-bucket-here"
        let sink = try S3Sink(settings: s, credentials: try goodCreds(), retry: Self.noSleep)
        XCTAssertThrowsError(try sink.put(try spool(Data("x".utf8), key: "k"))) { e in
            XCTAssertEqual((e as? SinkError)?.kind, .needsOperator)
            XCTAssertEqual((e as? SinkError)?.code, "NoSuchBucket")
        }
    }
}

/// The same S3 tests against SeaweedFS, a real S3 server (scripts/testsupport/seaweedfs_server.py).
/// SwiftPM's test discovery on Linux finds a subclass only through a test method it declares
/// (then it runs the inherited ones too), so the tests are named here.
final class S3SeaweedFSTests: S3MotoTests {
    override class var backend: S3Backend { .seaweedfs }
    override func testPutObjectRoundTripsKeysWithEqualsSpacesUnicodeAndPlus() throws { try super.testPutObjectRoundTripsKeysWithEqualsSpacesUnicodeAndPlus() }
    override func testMultipartAboveThresholdUploadsOneObjectWithTheSameBytes() throws { try super.testMultipartAboveThresholdUploadsOneObjectWithTheSameBytes() }
    override func testFailureMidMultipartAbortsTheUpload() throws { try super.testFailureMidMultipartAbortsTheUpload() }
    override func testWrongSecretIsSignatureDoesNotMatchNeedsOperatorAndFixingTheKeySucceeds() throws {
        try super.testWrongSecretIsSignatureDoesNotMatchNeedsOperatorAndFixingTheKeySucceeds()
    }
    override func testNoSuchBucketNeedsOperator() throws { try super.testNoSuchBucketNeedsOperator() }
}
