import ETLCore
import ETLSink
import ETLTestSupport
import Foundation
import XCTest

/// A long S3 upload is progress, not a hang: the real daemon uploads one ~1.1 MB object through
/// a 25 KB/s link (scripts/testsupport/throttle_proxy.py in front of moto), which takes ≥ 40 s,
/// four times the 10 s WATCHDOG_USEC. The watchdog must keep pinging (bytes are moving), the
/// object must land exactly once, and SIGTERM must still exit 0.
///
/// Contract under test: "alive = idle, parked on a timer, or making progress (page read,
/// commit, bytes moved on an upload)"; a long upload is bounded by a low-speed limit, not a
/// total timeout. A daemon whose flusher only reports progress between batches stops pinging
/// ~10 s into the upload and fails `testLongThrottledUploadKeepsTheWatchdogFed`.
///
/// What the wire looks like: on loopback the daemon's socket send buffer autotunes to ~4 MB at
/// connect (64 KiB MSS), so curl hands the whole ~1.2 MB body to the kernel at once (its upload
/// counter jumps to the end) and then waits ~45 s for moto's answer while the proxy drains the
/// bytes at 25 KB/s. So this proves a long in-flight upload, within the flusher's 75 s
/// no-progress deadline and the 60 s low-speed window, keeps the watchdog fed and is not cut
/// by a timeout; it cannot show trickling progress carrying an upload past 75 s (that would
/// need > 75 s + 4 MB / rate of upload, too slow for this suite).
final class WatchdogUploadTests: XCTestCase {
    static let bucket = "spotify-warehouse"
    static let watchdogUSec = 10_000_000
    /// Bytes per second through the proxy, each direction.
    static let rate = 25_000
    /// The playlist_items object must take at least this long to upload at `rate`.
    static let minUploadSeconds = 40.0

    func testLongThrottledUploadKeepsTheWatchdogFed() throws {
        let t0 = Date()
        let moto = try MotoServer(buckets: [Self.bucket])
        defer { moto.stop() }
        let proxy = try ThrottleProxy(targetPort: moto.port, rate: Self.rate)
        defer { proxy.stop() }
        // 4 playlists of 850 entries: the playlist_items batch is ~1.2 MB of uncompressed NDJSON
        // (~350 B a row), ~48 s at 25 KB/s. Most entries are duplicates of one track, so the
        // other tables (tracks, albums, artists) stay small and add only a few seconds.
        let h = try Harness(.init(scenario: "generated", playlists: 4, items: 100, seed: 404))
        try Self.padWithDuplicates(h, copies: 750)
        try Self.useThrottledS3(h, endpoint: proxy.endpoint)
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }

        var env = h.environment(awsAccessKey: moto.accessKey, secret: moto.secretKey)
        env["NOTIFY_SOCKET"] = notify.path
        env["WATCHDOG_USEC"] = String(Self.watchdogUSec)
        let (daemon, _, daemonErr) = try h.launch(["run", "--config", h.configURL.path], env: env)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        XCTAssertNotNil(notify.wait(timeout: 30) { $0.contains("READY=1") }, "no READY=1: \(notify.messages)")

        // Wait until every sealed batch is uploaded (max_age 8 s seals the whole initial load
        // at once; the uploads then take ~50 s through the proxy). A dead daemon ends the wait.
        let expectedItems = try Self.truthEntryCount(h)
        var done = false
        let deadline = Date().addingTimeInterval(150)
        while !done && Date() < deadline && daemon.isRunning {
            usleep(1_000_000)
            let r = (try? h.sqlite("SELECT count(*), count(uploaded_at), TOTAL(CASE WHEN table_name = 'playlist_items' THEN row_count END) FROM batches")) ?? ""
            let f = r.split(separator: "|").map { Double($0) ?? -1 }
            done = f.count == 3 && f[0] > 0 && f[0] == f[1] && Int(f[2]) >= expectedItems
        }
        let finishedAt = Date()
        XCTAssertTrue(daemon.isRunning, "the daemon died during the upload: \(Self.tail(daemonErr))")
        XCTAssertTrue(done, "not every batch was uploaded within 150 s: \((try? h.sqlite("SELECT batch_id, table_name, row_count, uploaded_at, attempts, last_error FROM batches")) ?? "")\n\(Self.tail(daemonErr))")

        // 1. The playlist_items object really took ≥ 40 s on the wire. Its upload started when
        //    it was sealed or when the batch before it finished, whichever is later (one flush
        //    uploads batches in batch_id order).
        let rows = try h.sqlite("SELECT batch_id, table_name, row_count, sealed_at, uploaded_at, attempts FROM batches ORDER BY batch_id")
        struct B { var id: Int; var table: String; var rows: Int; var sealed: Double; var uploaded: Double; var attempts: Int }
        let batches: [B] = rows.split(separator: "\n").compactMap { line in
            let c = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard c.count == 6, let id = Int(c[0]), let n = Int(c[2]), let s = Double(c[3]), let u = Double(c[4]), let a = Int(c[5]) else { return nil }
            return B(id: id, table: c[1], rows: n, sealed: s, uploaded: u, attempts: a)
        }
        let items = batches.filter { $0.table == "playlist_items" }
        XCTAssertEqual(items.count, 1, "the initial load should be one playlist_items batch (max_age 8 s): \(rows)")
        if let big = items.max(by: { $0.rows < $1.rows }) {
            let start = max(big.sealed, batches.filter { $0.id < big.id && $0.uploaded >= big.sealed }.map(\.uploaded).max() ?? big.sealed)
            let took = big.uploaded - start
            print("WatchdogUploadTests: playlist_items batch \(big.id), \(big.rows) rows, upload took \(String(format: "%.1f", took)) s, attempts \(big.attempts)")
            XCTAssertGreaterThanOrEqual(took, Self.minUploadSeconds,
                                        "the upload was not slow enough to prove anything (\(took) s); make the batch bigger")
            XCTAssertEqual(big.attempts, 1, "the slow upload was retried (a total timeout cut it?)")
        }

        // 2. Pings never stopped: every gap between consecutive WATCHDOG=1 < WATCHDOG_USEC,
        //    from the first ping until the uploads were done (and the last ping is recent).
        //    From READY=1 (systemd starts the watchdog clock there) until the uploads were done.
        let pings = notify.times { $0.split(separator: "\n").contains("WATCHDOG=1") }
        XCTAssertGreaterThanOrEqual(pings.count, 2, "no watchdog pings: \(notify.messages.prefix(20))")
        let limit = Double(Self.watchdogUSec) / 1_000_000
        let ready = notify.times { $0.split(separator: "\n").contains("READY=1") }.first ?? t0
        let worst = notify.largestPingGap(from: ready, to: finishedAt)
        var worstAt = ready
        let window = pings.filter { $0 >= ready && $0 <= finishedAt }
        for (a, b) in zip([ready] + window, window + [finishedAt]) where b.timeIntervalSince(a) >= worst - 0.001 { worstAt = a; break }
        XCTAssertLessThan(worst, limit,
                          "watchdog gap of \(String(format: "%.1f", worst)) s (from +\(String(format: "%.0f", worstAt.timeIntervalSince(t0))) s) ≥ WATCHDOG_USEC: systemd would have killed the daemon mid-upload")

        // The daemon's own account agrees (new status keys; absent on older daemons).
        let status = try h.run(["status", "--json", "--socket", h.dir.appendingPathComponent("control.sock").path])
        XCTAssertEqual(status.status, 0, status.stderr)
        if let obj = try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any],
           let wd = obj["watchdog"] as? [String: Any] {
            XCTAssertEqual(wd["state"] as? String, "ok", "\(wd)")
            if let gap = wd["max_gap_s"] as? Double { XCTAssertLessThan(gap, limit, "status watchdog.max_gap_s \(gap)") }
        }

        // 3. Exactly once: one object per sealed batch, under its key, with its rows.
        let objects = try Self.bucketRows(moto)
        let sealed = try h.sqlite("SELECT object_key || ' ' || row_count FROM batches").split(separator: "\n").map { line -> (String, Int) in
            let p = line.split(separator: " ")
            return ("spotify/" + p[0], Int(p[1]) ?? -1)
        }
        XCTAssertEqual(Set(objects.keys), Set(sealed.map(\.0)), "bucket keys differ from the sealed batches")
        XCTAssertEqual(objects.count, sealed.count)
        for (key, n) in sealed { XCTAssertEqual(objects[key]?.count, n, "rows in \(key)") }
        let events = objects.filter { $0.key.hasPrefix("spotify/playlist_items/") }.flatMap(\.value)
        XCTAssertGreaterThanOrEqual(events.count, expectedItems, "playlist_items rows cover every entry of the initial load")
        XCTAssertEqual(Harness.netMembership(events), try h.truthMembership())
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM outbox"), "0")

        // 4. SIGTERM: exit 0 (nothing left to upload, so it is quick).
        kill(daemon.processIdentifier, SIGTERM)
        let stopBy = Date().addingTimeInterval(30)
        while daemon.isRunning && Date() < stopBy { usleep(100_000) }
        XCTAssertFalse(daemon.isRunning, "SIGTERM did not stop the daemon within 30 s")
        if !daemon.isRunning { XCTAssertEqual(daemon.terminationStatus, 0, Self.tail(daemonErr)) }
        XCTAssertTrue(notify.messages.contains { $0.contains("STOPPING=1") })
        print("WatchdogUploadTests: \(pings.count) pings, largest gap \(String(format: "%.2f", worst)) s, test took \(Int(Date().timeIntervalSince(t0))) s")
    }

    // MARK: helpers

    /// Replaces the harness's local [sink] with S3 through `endpoint`, uncompressed, one object
    /// per table for the whole initial load (max_age 8 s; the load takes ~2 s), single PUT.
    static func useThrottledS3(_ h: Harness, endpoint: String) throws {
        try h.useS3Sink(bucket: bucket, endpoint: endpoint, extra: """
        format = "ndjson"
        compression = "none"
        max_rows = 1000000
        max_bytes = "256MiB"
        max_age = "8s"
        multipart_threshold = "64MiB"

        """)
    }

    /// Appends `copies` duplicates of each playlist's first track entry (one mutate call each).
    static func padWithDuplicates(_ h: Harness, copies: Int) throws {
        for p in try h.emulator.truth()["playlists"] as! [[String: Any]] {
            guard let id = p["id"] as? String, h.playlistIDs.contains(id),
                  let first = (p["entries"] as! [[String: Any]]).first(where: { ($0["type"] as? String) == "track" }),
                  let pos = first["position"] as? Int else { continue }
            _ = try h.emulator.mutate(id, Array(repeating: ["op": "duplicate", "position": pos], count: copies))
        }
    }

    /// Entries of the initial load that have an item (null items are not membership rows).
    static func truthEntryCount(_ h: Harness) throws -> Int {
        try (h.emulator.truth()["playlists"] as! [[String: Any]]).reduce(0) {
            $0 + ($1["entries"] as! [[String: Any]]).filter { $0["item_key"] is String }.count
        }
    }

    /// Every object in the bucket (read from moto directly, not through the proxy): key → rows.
    static func bucketRows(_ moto: MotoServer) throws -> [String: [[String: Any]]] {
        let c = try S3Client(settings: S3Settings(bucket: bucket, region: "us-east-1", endpoint: moto.endpoint, pathStyle: true),
                             credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: moto.accessKey, secretAccessKey: moto.secretKey,
                                                                                  sessionToken: nil, expiration: nil, source: "test")))
        var out: [String: [[String: Any]]] = [:]
        for o in try c.listObjects(prefix: "spotify/") {
            var data = try c.getObject(key: o.key)
            if o.key.hasSuffix(".gz") { data = try gunzip(data) }
            out[o.key] = try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
        }
        return out
    }

    static func tail(_ url: URL, _ n: Int = 2000) -> String {
        String(((try? String(contentsOf: url, encoding: .utf8)) ?? "").suffix(n))
    }
}

/// scripts/testsupport/throttle_proxy.py on loopback: a TCP proxy to `targetPort` limited to
/// `rate` bytes/s per direction (one shared link).
final class ThrottleProxy: Sendable {
    let port: Int
    var endpoint: String { "http://127.0.0.1:\(port)" }
    /// One JSON line per closed connection (`id, opened, closed, up_bytes, down_bytes`).
    let connectionLog: URL
    private let process: Process
    private let workDir: URL

    struct LaunchError: Error, CustomStringConvertible { var description: String }

    init(targetPort: Int, rate: Int, timeout: TimeInterval = 20) throws {
        workDir = FileManager.default.temporaryDirectory.appendingPathComponent("throttle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        let portFile = workDir.appendingPathComponent("port")
        let log = workDir.appendingPathComponent("proxy.log")
        connectionLog = workDir.appendingPathComponent("connections.jsonl")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestSupport.packageRoot + "/scripts/testsupport/throttle_proxy.py",
                             "--target", "127.0.0.1:\(targetPort)", "--port", "0", "--port-file", portFile.path,
                             "--rate", String(rate), "--log", connectionLog.path]
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var port = 0
        while Date() < deadline && process.isRunning {
            if let s = try? String(contentsOf: portFile, encoding: .utf8), let p = Int(s.trimmingCharacters(in: .whitespacesAndNewlines)) {
                port = p; break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard port > 0 else {
            TestSupport.terminate(process)
            throw LaunchError(description: "throttle proxy did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
        self.port = port
    }

    func stop() {
        TestSupport.terminate(process)
        try? FileManager.default.removeItem(at: workDir)
    }

    deinit { stop() }
}
