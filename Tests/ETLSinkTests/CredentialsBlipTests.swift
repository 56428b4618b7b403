import ETLCore
import ETLHTTP
import ETLTestSupport
import Foundation
import XCTest

@testable import ETLSink

/// Instance-role credentials through an IMDS that goes away (the emulator's outage modes) while
/// uploads go on to moto: inside the 5-minute refresh window the cached credentials keep
/// signing until they actually expire; after that the failure is transient, and IMDS coming
/// back heals it.
final class CredentialsBlipTests: XCTestCase {
    static let bucket = "etl-imds-blip"
    static let sharedPeers = SharedS3Peers()

    override class func setUp() {
        super.setUp()
        sharedPeers.start(.moto, buckets: [bucket])
    }

    override class func tearDown() {
        sharedPeers.stop(.moto)
        super.tearDown()
    }

    private func spool(_ count: Int, key: String) throws -> SealedObject {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("blip-\(UUID().uuidString)")
        var bytes = [UInt8](repeating: 0, count: count)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: (i &* 40_503) >> 7) }
        try Data(bytes).write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return SealedObject(key: key, fileURL: url, byteCount: count, contentType: "application/x-ndjson", contentEncoding: nil)
    }

    func testIMDSOutageInsideTheRefreshWindowKeepsUploadsGoingUntilExpiry() throws {
        let moto = try Self.sharedPeers.peer(.moto)
        let imds = try IMDSEmulatorProcess()
        defer { imds.stop() }
        let clock = FixedClock(Date())
        let iso = ISO8601DateFormatter()
        // No session token: moto checks tokens, and these are its long-term keys.
        try imds.setCredentials(accessKey: moto.accessKey, secretKey: moto.secretKey,
                                expiration: iso.string(from: clock.now().addingTimeInterval(3600)))
        let chain = CredentialsChain(environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint, "HOME": "/nonexistent"],
                                     clock: clock, imdsSleeper: { _ in })
        // Signing uses the real time; only the credentials' clock is moved.
        let settings = S3Settings(bucket: Self.bucket, prefix: "blip/", region: "us-east-1", endpoint: moto.endpoint, pathStyle: true,
                                  multipartThreshold: 5 << 20, partSize: 5 << 20)
        let sink = try S3Sink(settings: settings, credentials: chain,
                              retry: S3RetryPolicy(maxAttempts: 2, baseDelay: 0.001, maxDelay: 0.001, sleeper: { _ in }))
        XCTAssertNoThrow(try sink.put(try spool(1000, key: "a.ndjson")))
        XCTAssertEqual(try imds.stats()["credentials"], 1)

        // 4 minutes before expiry, every way IMDS can fail: the cached credentials still sign,
        // each refresh is tried (3 attempts, IMDS errors being transient), and the next one
        // only after a pause.
        clock.advance(by: 56 * 60)
        var outageHits = 0
        for (i, mode) in ["drop", "500", "garbage"].enumerated() {
            try imds.setOutage(mode)
            XCTAssertNoThrow(try sink.put(try spool(1000 + i, key: "during-\(mode).ndjson")), mode)
            let hits = try imds.stats()["outage"] ?? 0
            XCTAssertGreaterThanOrEqual(hits - outageHits, 3, "\(mode): one refresh, retried")
            outageHits = hits
            // Within the pause no new refresh is tried.
            XCTAssertNoThrow(try sink.put(try spool(2000 + i, key: "pause-\(mode).ndjson")), mode)
            XCTAssertEqual(try imds.stats()["outage"], hits, "\(mode): no refresh inside the pause")
            clock.advance(by: 61)
        }
        // A multipart upload during the outage: its parts are signed with the cached credentials.
        XCTAssertNoThrow(try sink.put(try spool(11 << 20, key: "multipart-during-outage.ndjson")))
        XCTAssertEqual(try sink.client.listMultipartUploads(prefix: "blip/"), [])
        XCTAssertEqual(try sink.client.listObjects(prefix: "blip/").count, 8)

        // Past the actual expiry nothing valid is left: a transient failure, not one for an operator.
        clock.advance(by: 5 * 60)
        XCTAssertThrowsError(try sink.put(try spool(1000, key: "after-expiry.ndjson"))) { e in
            XCTAssertEqual((e as? SinkError)?.kind, .transient, "\(e)")
            XCTAssertEqual((e as? SinkError)?.code, "NoCredentials")
        }

        // IMDS back (with new session tokens, as after a restart): fresh credentials, uploads go on.
        let renewed = clock.now().addingTimeInterval(3600)
        try imds.setCredentials(accessKey: moto.accessKey, secretKey: moto.secretKey, expiration: iso.string(from: renewed))
        try imds.setOutage("off")
        XCTAssertNoThrow(try sink.put(try spool(1000, key: "after-recovery.ndjson")))
        XCTAssertEqual(try chain.credentials().expiration.map { Int($0.timeIntervalSince1970) }, Int(renewed.timeIntervalSince1970))
    }

    /// Pure: the cache's rule, step by step.
    func testCacheKeepsValidCredentialsWhenARefreshFailsAndBacksOff() throws {
        struct Down: Error {}
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let c = AWSCredentials(accessKeyID: "AK", secretAccessKey: "s", expiration: t0.addingTimeInterval(600))
        var cache = CredentialsCache()
        var fetches = 0
        XCTAssertEqual(try cache.get(now: t0, refreshMargin: 300) { fetches += 1; return c }, c)
        // In the window: the fetch fails, the cached value is returned.
        XCTAssertEqual(try cache.get(now: t0.addingTimeInterval(400), refreshMargin: 300) { fetches += 1; throw Down() }, c)
        XCTAssertEqual(fetches, 2)
        // Within the 1 s pause: no fetch.
        XCTAssertEqual(try cache.get(now: t0.addingTimeInterval(400.5), refreshMargin: 300) { fetches += 1; throw Down() }, c)
        XCTAssertEqual(fetches, 2)
        // After it: tried again, the pause doubles.
        XCTAssertEqual(try cache.get(now: t0.addingTimeInterval(401.5), refreshMargin: 300) { fetches += 1; throw Down() }, c)
        XCTAssertEqual(fetches, 3)
        XCTAssertEqual(cache.retryAt, t0.addingTimeInterval(403.5))
        // Expired: the error reaches the caller.
        XCTAssertThrowsError(try cache.get(now: t0.addingTimeInterval(600), refreshMargin: 300) { fetches += 1; throw Down() })
        XCTAssertEqual(fetches, 4)
        XCTAssertNil(cache.value)
    }
}
