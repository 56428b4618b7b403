import ETLCore
import ETLHTTP
import ETLSink
import ETLState
import ETLTestSupport
import Foundation
import XCTest

@testable import ETLDaemon

/// Multipart upload ids kept in the state database until S3 confirmed the completion or the
/// abort, against moto: an abort that cannot run now stays recorded and a later flush's
/// `maintain()` aborts it; an upload cut short before its abort leaves a record too.
final class MultipartAbortLedgerTests: XCTestCase {
    static let bucket = "etl-abort-ledger"
    static let sharedPeers = SharedS3Peers()

    override class func setUp() {
        super.setUp()
        sharedPeers.start(.moto, buckets: [bucket])
    }

    override class func tearDown() {
        sharedPeers.stop(.moto)
        super.tearDown()
    }

    /// The real libcurl transport, except that requests matching `down` (while it says so) go
    /// to a closed loopback port: a real connection failure.
    final class Outage: HTTPTransport {
        let inner = CurlHTTPClient()
        let down = Guarded<@Sendable (HTTPRequest) -> Bool>({ _ in false })
        func send(_ request: HTTPRequest) throws -> HTTPResponse {
            var req = request
            if down.withLock({ $0 })(request), let r = req.url.range(of: "://127.0.0.1:") {
                let after = req.url[r.upperBound...]
                let slash = after.firstIndex(of: "/") ?? after.endIndex
                req.url = String(req.url[..<r.upperBound]) + "1" + String(after[slash...])
            }
            return try inner.send(req)
        }
    }

    func testFailedAbortIsKeptInTheStateAndRetriedByALaterMaintain() throws {
        let peer = try Self.sharedPeers.peer(.moto)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = try StateStore(path: dir.appendingPathComponent("state.db").path)
        let transport = Outage()
        let settings = S3Settings(bucket: Self.bucket, prefix: "p/", region: "us-east-1", endpoint: peer.endpoint, pathStyle: true,
                                  multipartThreshold: 5 << 20, partSize: 5 << 20)
        let creds = StaticCredentialsProvider(AWSCredentials(accessKeyID: peer.accessKey, secretAccessKey: peer.secretKey))
        let sink = try S3Sink(settings: settings, credentials: creds, transport: transport,
                              retry: S3RetryPolicy(maxAttempts: 2, baseDelay: 0.001, maxDelay: 0.001, sleeper: { _ in }),
                              ledger: StateMultipartLedger(state: state))
        let file = dir.appendingPathComponent("batch.gz")
        var bytes = [UInt8](repeating: 0, count: 11 << 20)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
        try Data(bytes).write(to: file)
        let object = SealedObject(key: "dt=2026-11-25/big.ndjson.gz", fileURL: file, byteCount: bytes.count,
                                  contentType: "application/x-ndjson", contentEncoding: "gzip")

        // Part 2 and the abort both fail: the upload stays open in S3 and recorded in the state.
        transport.down.withLock { $0 = { $0.url.contains("partNumber=2") || $0.method == "DELETE" } }
        XCTAssertThrowsError(try sink.put(object)) { XCTAssertEqual(($0 as? SinkError)?.kind, .transient) }
        let pending = try state.pendingAborts(bucket: Self.bucket)
        XCTAssertEqual(pending.count, 1)
        XCTAssertEqual(pending.first?.key, "p/dt=2026-11-25/big.ndjson.gz")
        XCTAssertEqual(pending.first?.attempts, 1)
        XCTAssertNotNil(pending.first?.lastError)
        let open = try sink.client.listMultipartUploads(prefix: "p/")
        XCTAssertEqual(open.map(\.uploadID), pending.map(\.uploadID), "the recorded id is the one S3 holds open")

        // Still down: maintain tries, fails, keeps the record (attempts counted).
        sink.maintain()
        XCTAssertEqual(try state.pendingAborts(bucket: Self.bucket).first?.attempts, 2)

        // S3 reachable again: a new sink over the same state (a restart) aborts it at its first
        // maintain, and the record goes.
        transport.down.withLock { $0 = { _ in false } }
        let restarted = try S3Sink(settings: settings, credentials: creds, transport: transport,
                                   retry: S3RetryPolicy(maxAttempts: 2, baseDelay: 0.001, maxDelay: 0.001, sleeper: { _ in }),
                                   ledger: StateMultipartLedger(state: state))
        restarted.maintain()
        XCTAssertEqual(try state.pendingAborts(bucket: Self.bucket), [])
        XCTAssertEqual(try sink.client.listMultipartUploads(prefix: "p/"), [])

        // A record whose upload S3 no longer knows (404 NoSuchUpload) counts as aborted.
        try state.recordMultipart(bucket: Self.bucket, key: "p/gone", uploadID: "no-such-upload-id", at: Date())
        restarted.maintain()
        XCTAssertEqual(try state.pendingAborts(bucket: Self.bucket), [])

        // A complete upload leaves no record.
        XCTAssertNoThrow(try restarted.put(object))
        XCTAssertEqual(try state.pendingAborts(bucket: Self.bucket), [])
        XCTAssertEqual(try sink.client.listMultipartUploads(prefix: "p/"), [])
    }
}
