import ETLCore
import ETLSink
import ETLTestSupport
import Foundation
import Synchronization
import XCTest

/// `[sink] kind = "s3"` against a real S3 peer with signature checking on: moto here, SeaweedFS
/// in the subclass S3EndToEndSeaweedFSTests below (the same tests, another `backend`).
class S3EndToEndTests: XCTestCase {
    /// The S3 peer this class runs against.
    class var backend: S3Backend { .moto }
    /// kill -9 rounds of testKill9DuringUploads.
    class var killRounds: Int { 22 }
    /// One peer per backend for the class (SeaweedFS takes seconds to start), one bucket per test.
    static let buckets = ["spotify-warehouse-kill9", "spotify-warehouse-secret", "spotify-warehouse-unreachable"]
    static let sharedPeers = SharedS3Peers()

    override class func setUp() {
        super.setUp()
        sharedPeers.start(backend, buckets: buckets)
    }

    override class func tearDown() {
        sharedPeers.stop(backend)
        super.tearDown()
    }

    private func peer() throws -> any S3TestPeer {
        try Self.sharedPeers.peer(Self.backend)
    }

    /// This test's bucket: "spotify-warehouse-kill9" for testKill9DuringUploads…
    private var bucket = "spotify-warehouse"

    /// The harness writes a local [sink]; replace that table with the S3 one.
    private func useS3(_ h: Harness, _ moto: any S3TestPeer, maxRows: Int = 50) throws {
        try h.useS3Sink(bucket: bucket, endpoint: moto.endpoint, extra: "max_rows = \(maxRows)\nmax_age = \"1s\"\n")
    }

    private func env(_ h: Harness, _ key: String, _ secret: String) -> [String: String] {
        h.environment(awsAccessKey: key, secret: secret)
    }

    private func client(_ moto: any S3TestPeer) throws -> S3Client {
        try S3Client(settings: S3Settings(bucket: bucket, region: "us-east-1", endpoint: moto.endpoint, pathStyle: true),
                     credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: moto.accessKey, secretAccessKey: moto.secretKey,
                                                                          sessionToken: nil, expiration: nil, source: "test")))
    }

    /// Decodes every object in the bucket: key → rows.
    private func bucketRows(_ moto: any S3TestPeer) throws -> [String: [[String: Any]]] {
        let c = try client(moto)
        var out: [String: [[String: Any]]] = [:]
        for o in try c.listObjects(prefix: "spotify/") {
            let data = try gunzip(c.getObject(key: o.key))
            out[o.key] = try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
        }
        return out
    }

    /// kill -9 at random points during uploads, 20+ times; then every sealed batch exists once
    /// under its deterministic key, the rows equal the emulator's truth, and no two keys hold
    /// the same row.
    /// The bytes are the same too: an object, once in the bucket, never changes its ETag (a
    /// re-upload after a kill writes the same bytes), and each ends as the MD5 of its bytes and
    /// the ETag the daemon recorded.
    func testKill9DuringUploads() throws {
        bucket = "spotify-warehouse-kill9"
        let moto = try peer()
        let h = try Harness(.init(scenario: "generated", playlists: 16, items: 120, seed: 77))
        try useS3(h, moto, maxRows: 40)
        let e = env(h, moto.accessKey, moto.secretKey)
        let seed = UInt64.random(in: 1...1_000_000)
        print("S3EndToEndTests(\(Self.backend)) seed \(seed)")
        var rng = SplitMix64(seed: seed)
        var ledger: [String: String] = [:]
        var etags: [String: String] = [:]
        let c = try client(moto)
        for round in 0..<Self.killRounds {
            if round % 7 == 3 { _ = try h.emulator.mutateRandom(seed: round, playlists: 8) }
            let (p, _, _) = try h.launch(["run", "--once", "--config", h.configURL.path], env: e)
            usleep(UInt32.random(in: 150_000...1_800_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            for line in try h.sqlite("SELECT batch_id || ' ' || object_key FROM batches").split(separator: "\n") {
                let parts = line.split(separator: " ")
                if let old = ledger[String(parts[0])] { XCTAssertEqual(old, String(parts[1])) }
                ledger[String(parts[0])] = String(parts[1])
            }
            for o in try c.listObjects(prefix: "spotify/") {
                if let old = etags[o.key] { XCTAssertEqual(old, o.etag, "\(o.key) was overwritten with other bytes") }
                etags[o.key] = o.etag
            }
        }
        let final = try h.run(["run", "--once", "--config", h.configURL.path], env: e)
        XCTAssertEqual(final.status, 0, final.stdout + final.stderr.suffix(1500))

        let objects = try bucketRows(moto)
        let sealed = try h.sqlite("SELECT object_key FROM batches").split(separator: "\n").map { "spotify/" + $0 }
        XCTAssertEqual(Set(objects.keys), Set(sealed), "bucket keys differ from the sealed batches")
        XCTAssertEqual(objects.count, sealed.count)
        XCTAssertGreaterThan(objects.count, Self.killRounds - 2)
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM outbox"), "0")
        let recorded = try h.sqlite("SELECT object_key || ' ' || etag FROM batches").split(separator: "\n")
        XCTAssertEqual(recorded.count, sealed.count, "a batch without a recorded upload")
        for line in recorded {
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count == 2 else { XCTFail("batch row \(line)"); continue }
            let key = "spotify/" + parts[0]
            let md5 = BodyDigests(try c.getObject(key: key)).md5Hex
            XCTAssertEqual(parts[1], md5, "\(key): recorded ETag is not the MD5 of the stored bytes")
            if let first = etags[key] { XCTAssertEqual(first, md5, "\(key) changed after it first landed") }
        }
        let events = objects.filter { $0.key.hasPrefix("spotify/playlist_items/") }.flatMap(\.value)
        XCTAssertEqual(Harness.netMembership(events), try h.truthMembership())
        // No data row under two keys. `polls` is left out: it is a heartbeat, one row per
        // finished poll with polled_at in whole seconds, so a poll in a killed run and the
        // restart's poll of the same playlist within the same second are two equal rows.
        var seen = Set<String>()
        for (key, rows) in objects where !key.hasPrefix("spotify/polls/") {
            for var r in rows {
                r["batch_id"] = nil
                let text = String(decoding: try JSONSerialization.data(withJSONObject: r, options: .sortedKeys), as: UTF8.self)
                XCTAssertTrue(seen.insert(text).inserted, "row under two keys, second \(key)")
            }
        }
        XCTAssertEqual(try h.sqlite("PRAGMA integrity_check"), "ok")
    }

    /// A wrong secret is a clear SignatureDoesNotMatch with nothing lost; fixing it drains the outbox.
    func testWrongSecretIsReportedAndFixingItDrains() throws {
        bucket = "spotify-warehouse-secret"
        let moto = try peer()
        let h = try Harness(.init(scenario: "generated", playlists: 3, items: 40, seed: 8))
        try useS3(h, moto)
        let wrong = "wrong-" + String(moto.secretKey.dropFirst(6))
        let r1 = try h.run(["run", "--once", "--config", h.configURL.path], env: env(h, moto.accessKey, wrong))
        XCTAssertEqual(r1.status, 75, r1.stdout)
        XCTAssertTrue(r1.stdout.contains("SignatureDoesNotMatch"), r1.stdout)
        XCTAssertFalse((r1.stdout + r1.stderr).contains(wrong), "the secret appeared in output")
        XCTAssertFalse((r1.stdout + r1.stderr).contains(moto.secretKey))
        XCTAssertNotEqual(try h.sqlite("SELECT count(*) FROM outbox"), "0", "rows were dropped")
        XCTAssertTrue(try client(moto).listObjects(prefix: "spotify/").isEmpty)

        let r2 = try h.run(["run", "--once", "--config", h.configURL.path], env: env(h, moto.accessKey, moto.secretKey))
        XCTAssertEqual(r2.status, 0, r2.stdout + r2.stderr.suffix(1000))
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM outbox"), "0")
        let events = try bucketRows(moto).filter { $0.key.hasPrefix("spotify/playlist_items/") }.flatMap(\.value)
        XCTAssertEqual(Harness.netMembership(events), try h.truthMembership())
    }

    /// S3 unreachable: uploads fail as transient, the outbox only grows and `status` shows it;
    /// when S3 is back the daemon drains it without losing or repeating anything.
    func testS3UnreachableGrowsTheOutboxThenDrains() throws {
        bucket = "spotify-warehouse-unreachable"
        let moto = try peer()
        let h = try Harness(.init(scenario: "generated", playlists: 3, items: 40, seed: 19))
        try useS3(h, moto)
        // First S3 is unreachable: a closed loopback port.
        let good = try String(contentsOf: h.configURL, encoding: .utf8)
        try good.replacingOccurrences(of: moto.endpoint, with: "http://127.0.0.1:9").write(to: h.configURL, atomically: true, encoding: .utf8)
        let e = env(h, moto.accessKey, moto.secretKey)
        let r1 = try h.run(["run", "--once", "--config", h.configURL.path], env: e)
        XCTAssertEqual(r1.status, 75, "deferred, nothing lost: \(r1.stdout)")
        XCTAssertTrue(r1.stdout.contains("upload failed"), r1.stdout)
        let pending = Int(try h.sqlite("SELECT count(*) FROM outbox")) ?? 0
        XCTAssertGreaterThan(pending, 0)

        // The daemon, still without S3, reports the backlog in status.
        let (d, _, _) = try h.launch(["run", "--config", h.configURL.path], env: e)
        var shown = false
        for _ in 0..<40 where !shown {
            usleep(250_000)
            let st = try h.run(["status", "--json", "--config", h.configURL.path])
            // 0 healthy or 1 degraded (uploads failing): either way a full report.
            if st.status == 0 || st.status == 1, let obj = try? JSONSerialization.jsonObject(with: Data(st.stdout.utf8)) as? [String: Any] {
                let rows = (obj["outbox"] as? [[String: Any]] ?? []).reduce(0) { $0 + ($1["rows"] as? Int ?? 0) }
                shown = rows >= pending
            }
        }
        XCTAssertTrue(shown, "status did not show the outbox backlog")
        kill(d.processIdentifier, SIGTERM)
        d.waitUntilExit()
        XCTAssertEqual(d.terminationStatus, 0)
        XCTAssertGreaterThanOrEqual(Int(try h.sqlite("SELECT count(*) FROM outbox")) ?? 0, pending, "rows were dropped while S3 was away")

        // S3 is back: everything drains, once.
        try good.write(to: h.configURL, atomically: true, encoding: .utf8)
        let r2 = try h.run(["run", "--once", "--config", h.configURL.path], env: e)
        XCTAssertEqual(r2.status, 0, r2.stdout + r2.stderr.suffix(800))
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM outbox"), "0")
        let objects = try bucketRows(moto)
        let events = objects.filter { $0.key.hasPrefix("spotify/playlist_items/") }.flatMap(\.value)
        XCTAssertEqual(Harness.netMembership(events), try h.truthMembership())
        XCTAssertEqual(Set(objects.keys), Set(try h.sqlite("SELECT object_key FROM batches").split(separator: "\n").map { "spotify/" + $0 }))
    }
}

/// The daemon's S3 end-to-end tests against SeaweedFS, a real S3 server
/// (scripts/testsupport/seaweedfs_server.py). SwiftPM's test discovery on Linux finds a subclass
/// only through a test method it declares (then it runs the inherited ones too), so the tests
/// meant for SeaweedFS are named here.
final class S3EndToEndSeaweedFSTests: S3EndToEndTests {
    override class var backend: S3Backend { .seaweedfs }
    override class var killRounds: Int { 10 }
    override func testKill9DuringUploads() throws { try super.testKill9DuringUploads() }
    override func testWrongSecretIsReportedAndFixingItDrains() throws { try super.testWrongSecretIsReportedAndFixingItDrains() }
}
