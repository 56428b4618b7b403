import ETLCore
import ETLSink
import ETLTestSupport
import Foundation
import XCTest

/// Three instances split one playlist list (`[instance] shard_index/shard_count`), started
/// together against one Spotify emulator and one S3 bucket and prefix (moto). Each has its own
/// state directory and id. The union of their objects holds every item exactly once, their
/// keys are disjoint and carry their id, and a kill -9 of one instance mid-run followed by a
/// rerun changes neither.
final class ShardedInstancesTests: XCTestCase {
    static let bucket = "spotify-warehouse-shards"
    static let sharedPeers = SharedS3Peers()
    static let shardCount = 3

    override class func setUp() {
        super.setUp()
        sharedPeers.start(.moto, buckets: [bucket])
    }

    override class func tearDown() {
        sharedPeers.stop(.moto)
        super.tearDown()
    }

    /// One instance: its own config, state directory and control socket under the harness's
    /// directory; the same playlist list as every other instance.
    struct Instance {
        let index: Int
        let dir: URL
        var id: String { "shard-\(index)" }
        var config: URL { dir.appendingPathComponent("spotifyd-etl.toml") }
        var statePath: String { dir.appendingPathComponent("state/state.db").path }

        func write(_ h: Harness, s3: any S3TestPeer) throws {
            var toml = """
            [spotify]
            api_url = "\(h.emulator.apiURL)"
            accounts_url = "\(h.emulator.accountsURL)"
            request_timeout = "10s"

            [instance]
            id = "\(id)"
            shard_index = \(index)
            shard_count = \(ShardedInstancesTests.shardCount)

            [schedule]
            interval = "15m"
            concurrency = 4

            [state]
            path = "\(statePath)"

            [sink]
            kind = "s3"
            bucket = "\(ShardedInstancesTests.bucket)"
            prefix = "spotify/"
            region = "us-east-1"
            endpoint = "\(s3.endpoint)"
            path_style = true
            max_rows = 40
            max_age = "1s"

            [control]
            socket = "\(dir.appendingPathComponent("control.sock").path)"

            """
            for p in h.playlistIDs { toml += "\n[[playlists]]\nid = \"\(p)\"\n" }
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try toml.write(to: config, atomically: true, encoding: .utf8)
        }

        func sqlite(_ sql: String) throws -> String { try sqlite3CLI(statePath, sql) }

        /// batch id → object key, as sealed in this instance's state database.
        func sealed() throws -> [String: String] {
            guard FileManager.default.fileExists(atPath: statePath) else { return [:] }
            var out: [String: String] = [:]
            for line in try sqlite("SELECT batch_id || ' ' || object_key FROM batches").split(separator: "\n") {
                let parts = line.split(separator: " ").map(String.init)
                if parts.count == 2 { out[parts[0]] = parts[1] }
            }
            return out
        }
    }

    func testThreeShardsWriteEveryItemOnceUnderDisjointKeysAndSurviveKill9() throws {
        let s3 = try Self.sharedPeers.peer(.moto)
        let h = try Harness(.init(scenario: "generated", playlists: 12, items: 90, seed: 1414))
        let env = h.environment(awsAccessKey: s3.accessKey, secret: s3.secretKey)
        let instances = (0..<Self.shardCount).map { Instance(index: $0, dir: h.dir.appendingPathComponent("instance-\($0)")) }
        for i in instances { try i.write(h, s3: s3) }
        // Each shard owns some of the list (the hash is fixed, so is this split).
        let owner = Dictionary(uniqueKeysWithValues: h.playlistIDs.map { ($0, Shard.of($0, count: Self.shardCount)) })
        for i in instances {
            XCTAssertGreaterThan(owner.values.filter { $0 == i.index }.count, 0, "shard \(i.index) owns no playlist")
        }
        // Slow pages, so the kill lands while the victim is still polling or uploading.
        try h.emulator.setFaults([["path_regex": "/v1/playlists/.*/items", "status": 0, "delay_ms": 250, "count": -1]])

        let seed = UInt64(ProcessInfo.processInfo.environment["SHARD_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        print("ShardedInstancesTests seed \(seed) (rerun with SHARD_SEED=\(seed))")
        var rng = SplitMix64(seed: seed)
        let victim = instances[Int(rng.next() % UInt64(Self.shardCount))]

        // All three start together.
        let runs = try instances.map { try h.launch(["run", "--once", "--config", $0.config.path, "--max-wait", "20"], env: env) }
        // kill -9 the victim once it has committed its first rows (or sealed a batch), plus a
        // random bit more: mid-poll or mid-upload.
        let victimProcess = runs[victim.index].0
        let deadline = Date().addingTimeInterval(15)
        while victimProcess.isRunning, Date() < deadline {
            let progressed = (try? victim.sqlite("SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM batches)"))
                .flatMap { Int($0) } ?? 0
            if progressed > 0 { break }
            usleep(20_000)
        }
        usleep(UInt32(rng.next() % 150_000))
        XCTAssertTrue(victimProcess.isRunning, "the victim finished before the kill; the kill tests nothing")
        kill(victimProcess.processIdentifier, SIGKILL)
        victimProcess.waitUntilExit()
        XCTAssertEqual(victimProcess.terminationReason, .uncaughtSignal)
        let beforeRerun = try victim.sealed()

        for (i, run) in zip(instances, runs) where i.index != victim.index {
            run.0.waitUntilExit()
            let out = (try? String(contentsOf: run.1, encoding: .utf8)) ?? ""
            let err = (try? String(contentsOf: run.2, encoding: .utf8)) ?? ""
            XCTAssertEqual(run.0.terminationStatus, 0, "\(i.id): \(out) \(err.suffix(1500))")
            let own = owner.values.filter { $0 == i.index }.count
            XCTAssertTrue(out.contains("polled \(own) playlists"), "\(i.id) polls only its shard: \(out)")
        }
        // The rerun finishes the victim's work under the names it sealed before the kill.
        let rerun = try h.run(["run", "--once", "--config", victim.config.path, "--max-wait", "20"], env: env)
        XCTAssertEqual(rerun.status, 0, rerun.stdout + rerun.stderr.suffix(1500))
        let afterRerun = try victim.sealed()
        for (batch, key) in beforeRerun { XCTAssertEqual(afterRerun[batch], key, "batch \(batch) changed its name after kill -9") }

        // Objects, read back from the bucket.
        let client = try S3Client(settings: S3Settings(bucket: Self.bucket, region: "us-east-1", endpoint: s3.endpoint, pathStyle: true),
                                  credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: s3.accessKey, secretAccessKey: s3.secretKey,
                                                                                       sessionToken: nil, expiration: nil, source: "test")))
        var objects: [String: [[String: Any]]] = [:]
        for o in try client.listObjects(prefix: "spotify/") {
            let data = try gunzip(client.getObject(key: o.key))
            objects[o.key] = try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
        }

        // Disjoint keys: each object is one instance's, named with its id, and is exactly what
        // that instance sealed; nothing is left undelivered.
        var keysByInstance: [Set<String>] = []
        for i in instances {
            let sealed = Set(try i.sealed().values.map { "spotify/" + $0 })
            XCTAssertFalse(sealed.isEmpty, "\(i.id) sealed nothing")
            for key in sealed {
                let name = key.split(separator: "/").last.map(String.init) ?? ""
                let table = key.split(separator: "/")[1]
                XCTAssertTrue(name.hasPrefix("\(table)-\(i.id)-"), "\(key) does not carry \(i.id)")
            }
            keysByInstance.append(sealed)
            XCTAssertEqual(try i.sqlite("SELECT count(*) FROM batches WHERE uploaded_at IS NULL"), "0", i.id)
            XCTAssertEqual(try i.sqlite("SELECT count(*) FROM outbox"), "0", i.id)
        }
        for a in 0..<keysByInstance.count {
            for b in (a + 1)..<keysByInstance.count {
                XCTAssertTrue(keysByInstance[a].isDisjoint(with: keysByInstance[b]), "instances \(a) and \(b) share keys")
            }
        }
        XCTAssertEqual(Set(objects.keys), keysByInstance.reduce(Set<String>()) { $0.union($1) }, "bucket keys differ from the sealed batches")

        // Each object holds only its instance's shard's playlists.
        for (key, rows) in objects {
            guard let i = instances.first(where: { keysByInstance[$0.index].contains(key) }) else { continue }
            for r in rows {
                if let pl = r["playlist_id"] as? String {
                    XCTAssertEqual(owner[pl], i.index, "\(key) holds playlist \(pl) of another shard")
                }
            }
        }

        // Every item exactly once across the union: the event log nets to the emulator's truth
        // and no playlist-scoped row (playlist_items, playlists, rejects) repeats anywhere.
        // Dimension rows (tracks, albums, artists, episodes) are per instance: a track in
        // playlists of two shards is observed by both, so it may appear once per instance
        // (the *_latest views keep one), never twice within one. `polls` is a heartbeat (see
        // CrashSafetyTests) and is left out.
        let events = objects.filter { $0.key.hasPrefix("spotify/playlist_items/") }.flatMap(\.value)
        XCTAssertEqual(Harness.netMembership(events), try h.truthMembership())
        XCTAssertTrue(events.allSatisfy { $0["event"] as? String == "added" })
        let dimensions: Set<Table> = [.tracks, .albums, .artists, .episodes]
        var seen = Set<String>()
        for (key, rows) in objects where !key.hasPrefix("spotify/polls/") {
            let table = key.split(separator: "/")[1]
            let scope = dimensions.contains { $0.rawValue == table }
                ? (instances.first { keysByInstance[$0.index].contains(key) }?.id ?? "?") : "all"
            for var r in rows {
                r["batch_id"] = nil
                let text = String(decoding: try JSONSerialization.data(withJSONObject: r, options: .sortedKeys), as: UTF8.self)
                XCTAssertTrue(seen.insert(scope + "|" + text).inserted, "row under two keys (\(scope)), second \(key): \(text.prefix(160))")
            }
        }
        // The union of the dimension rows covers every track the playlists hold.
        let trackIDs = Set(objects.filter { $0.key.hasPrefix("spotify/tracks/") }.flatMap(\.value).compactMap { $0["track_id"] as? String })
        let present = Set(events.filter { $0["item_type"] as? String == "track" }.compactMap { $0["track_id"] as? String })
        XCTAssertFalse(present.isEmpty)
        XCTAssertEqual(present.subtracting(trackIDs), [], "tracks never written")
        let playlistRows = objects.filter { $0.key.hasPrefix("spotify/playlists/") }.flatMap(\.value).map { $0["playlist_id"] as! String }
        XCTAssertEqual(playlistRows.sorted(), h.playlistIDs.sorted(), "each playlist's metadata once, by its own shard")

        // `status` of a running instance shows its shard as configured.
        let shown = instances[1]
        let (daemon, _, _) = try h.launch(["run", "--config", shown.config.path], env: env)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL); daemon.waitUntilExit() } }
        let own = owner.values.filter { $0 == shown.index }.count
        var status: [String: Any]? = nil
        for _ in 0..<40 where status == nil {
            usleep(150_000)
            let st = try h.run(["status", "--json", "--config", shown.config.path])
            if st.status == 0 || st.status == 1 { status = try? JSONSerialization.jsonObject(with: Data(st.stdout.utf8)) as? [String: Any] }
        }
        let table = try h.run(["status", "--config", shown.config.path]).stdout
        let instance = status?["instance"] as? [String: Any]
        XCTAssertEqual(instance?["id"] as? String, shown.id)
        let shard = instance?["shard"] as? [String: Any]
        XCTAssertEqual(shard?["index"] as? Int, shown.index)
        XCTAssertEqual(shard?["count"] as? Int, Self.shardCount)
        XCTAssertEqual(shard?["playlists"] as? Int, own)
        XCTAssertEqual(shard?["listed"] as? Int, h.playlistIDs.count)
        XCTAssertEqual((status?["playlists"] as? [[String: Any]])?.count, own, "status lists only the shard's playlists")
        XCTAssertTrue(table.contains("shard \(shown.index)/\(Self.shardCount): \(own) of \(h.playlistIDs.count) playlists"), table)
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        XCTAssertEqual(daemon.terminationStatus, 0)
    }
}
