import ETLCore
import ETLSink
import ETLTestSupport
import Foundation
import XCTest

/// `[sink] kind = "s3"` against a real moto server with signature checking on.
final class S3EndToEndTests: XCTestCase {
    static let bucket = "spotify-warehouse"

    private func s3Config(_ moto: MotoServer, maxRows: Int = 50) -> String {
        """

        [sink]
        kind = "s3"
        bucket = "\(Self.bucket)"
        prefix = "spotify/"
        region = "us-east-1"
        endpoint = "\(moto.endpoint)"
        path_style = true
        max_rows = \(maxRows)
        max_age = "1s"
        """
    }

    /// The harness writes a local [sink]; replace that table with the S3 one.
    private func useS3(_ h: Harness, _ moto: MotoServer, maxRows: Int = 50) throws {
        var toml = try String(contentsOf: h.configURL, encoding: .utf8)
        let start = toml.range(of: "[sink]")!, end = toml.range(of: "[control]")!
        toml.replaceSubrange(start.lowerBound..<end.lowerBound, with: "")
        toml += s3Config(moto, maxRows: maxRows)
        try toml.write(to: h.configURL, atomically: true, encoding: .utf8)
    }

    private func env(_ h: Harness, _ key: String, _ secret: String) -> [String: String] {
        var e = h.environment
        e["AWS_ACCESS_KEY_ID"] = key
        e["AWS_SECRET_ACCESS_KEY"] = secret
        e["AWS_EC2_METADATA_DISABLED"] = "true"
        e["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
        return e
    }

    private func client(_ moto: MotoServer) throws -> S3Client {
        try S3Client(settings: S3Settings(bucket: Self.bucket, region: "us-east-1", endpoint: moto.endpoint, pathStyle: true),
                     credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: moto.accessKey, secretAccessKey: moto.secretKey,
                                                                          sessionToken: nil, expiration: nil, source: "test")))
    }

    /// Decodes every object in the bucket: key → rows.
    private func bucketRows(_ moto: MotoServer) throws -> [String: [[String: Any]]] {
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
    func testKill9DuringUploadsToMoto() throws {
        let moto = try MotoServer(buckets: [Self.bucket])
        defer { moto.stop() }
        let h = try Harness(.init(scenario: "generated", playlists: 16, items: 120, seed: 77))
        try useS3(h, moto, maxRows: 40)
        let e = env(h, moto.accessKey, moto.secretKey)
        let seed = UInt64.random(in: 1...1_000_000)
        print("S3EndToEndTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        var ledger: [String: String] = [:]
        for round in 0..<22 {
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
        }
        let final = try h.run(["run", "--once", "--config", h.configURL.path], env: e)
        XCTAssertEqual(final.status, 0, final.stdout + final.stderr.suffix(1500))

        let objects = try bucketRows(moto)
        let sealed = try h.sqlite("SELECT object_key FROM batches").split(separator: "\n").map { "spotify/" + $0 }
        XCTAssertEqual(Set(objects.keys), Set(sealed), "bucket keys differ from the sealed batches")
        XCTAssertEqual(objects.count, sealed.count)
        XCTAssertGreaterThan(objects.count, 20)
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM outbox"), "0")
        let events = objects.filter { $0.key.hasPrefix("spotify/playlist_items/") }.flatMap(\.value)
        XCTAssertEqual(Harness.netMembership(events), try h.truthMembership())
        var seen = Set<String>()
        for (key, rows) in objects {
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
        let moto = try MotoServer(buckets: [Self.bucket])
        defer { moto.stop() }
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
        let moto = try MotoServer(buckets: [Self.bucket])
        defer { moto.stop() }
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
            if st.status == 0, let obj = try? JSONSerialization.jsonObject(with: Data(st.stdout.utf8)) as? [String: Any] {
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
