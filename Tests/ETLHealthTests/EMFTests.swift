import CoreMetrics
import ETLCore
import Foundation
import Logging
import XCTest
@testable import ETLHealth

final class EMFEncoderTests: XCTestCase {
    let ts = Date(timeIntervalSince1970: 1_800_000_000.123)

    func parse(_ doc: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(doc.utf8)) as? [String: Any])
    }

    /// Validates one document against the EMF spec rules; returns (dimensions, metric names).
    func validate(_ doc: String, file: StaticString = #filePath, line: UInt = #line) throws -> ([[String]], [String], [String: Any]) {
        let root = try parse(doc)
        let aws = try XCTUnwrap(root["_aws"] as? [String: Any], file: file, line: line)
        XCTAssertEqual(Set(aws.keys), ["Timestamp", "CloudWatchMetrics"], file: file, line: line)
        XCTAssertEqual(aws["Timestamp"] as? Int, 1_800_000_000_123, file: file, line: line)
        let directives = try XCTUnwrap(aws["CloudWatchMetrics"] as? [[String: Any]])
        XCTAssertEqual(directives.count, 1)
        let d = directives[0]
        XCTAssertEqual(Set(d.keys), ["Namespace", "Dimensions", "Metrics"])
        XCTAssertEqual(d["Namespace"] as? String, "SpotifyETL")
        let dims = try XCTUnwrap(d["Dimensions"] as? [[String]])
        for set in dims { for k in set { XCTAssertNotNil(root[k] as? String, "dimension \(k) must be a string member", file: file, line: line) } }
        let metrics = try XCTUnwrap(d["Metrics"] as? [[String: String]])
        XCTAssertLessThanOrEqual(metrics.count, 100)
        var names: [String] = []
        for m in metrics {
            let name = try XCTUnwrap(m["Name"])
            names.append(name)
            XCTAssertTrue(["Count", "Seconds", "Milliseconds", "Bytes", "None"].contains(m["Unit"] ?? ""), "\(m)")
            let v = root[name]
            if let arr = v as? [NSNumber] { XCTAssertLessThanOrEqual(arr.count, 100); XCTAssertFalse(arr.isEmpty) }
            else { XCTAssertNotNil(v as? NSNumber, "metric \(name) must be a number", file: file, line: line) }
        }
        XCTAssertEqual(root["Service"] as? String, "spotifyd-etl")
        return (dims, names, root)
    }

    func testEmptySnapshotNamesAllRequiredMetricsAsZero() throws {
        let docs = EMFEncoder.encode(EMFSnapshot(timestamp: ts))
        XCTAssertEqual(docs.count, 1)
        let (dims, names, root) = try validate(docs[0])
        XCTAssertEqual(dims, [["Service"]])
        XCTAssertEqual(names, MetricNames.required)
        XCTAssertEqual(names.count, MetricNames.required.count)
        for n in names { XCTAssertEqual(root[n] as? Int, 0, n) }
        let aws = root["_aws"] as! [String: Any]
        let metrics = ((aws["CloudWatchMetrics"] as! [[String: Any]])[0]["Metrics"] as! [[String: String]])
        let units = Dictionary(uniqueKeysWithValues: metrics.map { ($0["Name"]!, $0["Unit"]!) })
        XCTAssertEqual(units["BytesUploaded"], "Bytes")
        XCTAssertEqual(units["OutboxOldestAgeSeconds"], "Seconds")
        XCTAssertEqual(units["PollLagSeconds"], "Seconds")
        XCTAssertEqual(units["ApiRequests"], "Count")
    }

    func testPerPlaylistDocumentsAndSplitting() throws {
        var snap = EMFSnapshot(timestamp: ts, service: [MetricNames.rowsExtracted: .single(7), "ApiLatency": .samples([1.5, 20])])
        snap.perPlaylist["p1"] = [MetricNames.rowsExtracted: .single(7), MetricNames.pollLagSeconds: .single(12.25)]
        snap.perPlaylist["bad\nid"] = [MetricNames.rowsExtracted: .single(1)]
        for i in 0..<120 { snap.service["Extra\(String(format: "%03d", i))"] = .single(Double(i)) }
        let docs = EMFEncoder.encode(snap, namespace: "SpotifyETL")
        // required + 121 extras → two service docs (100 + the rest), one playlist doc; bad id skipped.
        XCTAssertEqual(docs.count, 3)
        let (d0, n0, r0) = try validate(docs[0])
        XCTAssertEqual(d0, [["Service"]])
        XCTAssertEqual(n0.count, 100)
        XCTAssertEqual(Array(n0.prefix(MetricNames.required.count)), MetricNames.required)
        XCTAssertEqual(r0["RowsExtracted"] as? Int, 7)
        XCTAssertEqual(r0["ApiLatency"] as? [Double], [1.5, 20])
        let (_, n1, _) = try validate(docs[1])
        XCTAssertEqual(n1.count, MetricNames.required.count + 121 - 100)
        XCTAssertEqual(Set(n0).intersection(n1), [])
        let (d2, n2, r2) = try validate(docs[2])
        XCTAssertEqual(d2, [["Service", "PlaylistId"]])
        XCTAssertEqual(r2["PlaylistId"] as? String, "p1")
        XCTAssertEqual(n2, [MetricNames.rowsExtracted, MetricNames.pollLagSeconds])
        XCTAssertEqual(r2["PollLagSeconds"] as? Double, 12.25)
    }

    func testNumbersAreValidJSON() {
        XCTAssertEqual(EMFEncoder.number(3), "3")
        XCTAssertEqual(EMFEncoder.number(0.1), "0.1")
        XCTAssertEqual(EMFEncoder.number(.nan), "0")
        XCTAssertEqual(EMFEncoder.number(-.infinity), "0")
    }
}

final class EMFMetricsTests: XCTestCase {
    func testAggregationRollupAndReset() throws {
        let m = EMFMetrics(clock: SystemClock())
        let polledA = Counter(label: MetricNames.playlistsPolled, dimensions: [("PlaylistId", "a")], factory: m)
        let polledB = Counter(label: MetricNames.playlistsPolled, dimensions: [("playlist_id", "b")], factory: m)
        let bytes = Counter(label: MetricNames.bytesUploaded, factory: m)
        let lagA = Gauge(label: MetricNames.pollLagSeconds, dimensions: [("PlaylistId", "a")], factory: m)
        let lagB = Gauge(label: MetricNames.pollLagSeconds, dimensions: [("PlaylistId", "b")], factory: m)
        let outbox = Gauge(label: MetricNames.outboxRows, factory: m)
        let latency = Timer(label: "ApiLatency", factory: m)
        polledA.increment(); polledA.increment(); polledB.increment()
        bytes.increment(by: 1024)
        lagA.record(5); lagB.record(30)
        outbox.record(17)
        latency.recordMilliseconds(250)

        let s1 = m.snapshot()
        XCTAssertEqual(s1.service[MetricNames.playlistsPolled], .single(3))
        XCTAssertEqual(s1.service[MetricNames.bytesUploaded], .single(1024))
        XCTAssertEqual(s1.service[MetricNames.pollLagSeconds], .single(30), "gauge rollup = worst playlist")
        XCTAssertEqual(s1.service[MetricNames.outboxRows], .single(17))
        XCTAssertEqual(s1.service["ApiLatency"], .samples([250]))
        XCTAssertEqual(s1.perPlaylist["a"]?[MetricNames.playlistsPolled], .single(2))
        XCTAssertEqual(s1.perPlaylist["b"]?[MetricNames.pollLagSeconds], .single(30))

        let s2 = m.snapshot()
        XCTAssertEqual(s2.service[MetricNames.playlistsPolled], .single(0), "counters reset per interval")
        XCTAssertEqual(s2.service[MetricNames.outboxRows], .single(17), "gauges keep last value")
        XCTAssertNil(s2.service["ApiLatency"], "no samples → metric omitted, never an empty array")
        XCTAssertEqual(s2.perPlaylist["a"]?[MetricNames.playlistsPolled], .single(0), "known playlist keeps its series")
        for doc in EMFEncoder.encode(s2) {
            XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(doc.utf8)))
        }
    }

    func testEmitterLogsOneTaggedEntryPerDocument() throws {
        let capture = LogCapture()
        let m = EMFMetrics()
        Counter(label: MetricNames.apiRequests, factory: m).increment(by: 4)
        var logger = capture.logger
        logger.logLevel = .error  // must not silence metrics
        let emitter = EMFEmitter(metrics: m, namespace: "SpotifyETL", interval: 60, logger: logger)
        let docs = emitter.flushNow()
        XCTAssertEqual(docs.count, 1)
        XCTAssertEqual(capture.events.count, 1)
        let e = capture.events[0]
        XCTAssertEqual(e.message.description, docs[0])
        XCTAssertEqual(e.metadata?[LogBackend.emfMetadataKey], "1")
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(docs[0].utf8)) as? [String: Any])
        XCTAssertEqual(root["ApiRequests"] as? Int, 4)
        // The journald form of this entry carries SPOTIFYD_EMF=1 and the JSON as MESSAGE.
        let fields = JournalFields.build(level: e.level, message: e.message.description, metadata: e.metadata ?? [:],
                                         file: e.file, function: e.function, line: e.line)
        XCTAssertTrue(fields.contains("SPOTIFYD_EMF=1"))
        XCTAssertEqual(fields[0], "MESSAGE=" + docs[0])
        // …under its own identifier, so `journalctl -t spotifyd-etl` shows the log without it.
        XCTAssertTrue(fields.contains("SYSLOG_IDENTIFIER=spotifyd-etl-metrics"), "\(fields)")
        XCTAssertFalse(fields.contains("SYSLOG_IDENTIFIER=spotifyd-etl"))
        // Next interval: counters back to 0.
        emitter.flushNow()
        let root2 = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(capture.events[1].message.description.utf8)) as? [String: Any])
        XCTAssertEqual(root2["ApiRequests"] as? Int, 0)
    }

    func testTimerEmitsOnInterval() throws {
        let capture = LogCapture()
        let emitter = EMFEmitter(metrics: EMFMetrics(), interval: 0.2, logger: capture.logger)
        emitter.start()
        Thread.sleep(forTimeInterval: 0.75)
        emitter.stop()
        XCTAssertGreaterThanOrEqual(capture.events.count, 3, "≥2 timer flushes + 1 on stop")
    }
}
