import ETLConfig
import ETLCore
import ETLHealth
import ETLTestSupport
import Foundation
import Glibc
import XCTest

/// `[metrics] listen`: the config rule, and the real daemon's `/metrics` scraped over TCP and
/// parsed by the reference parser (`prometheus_client`), checked against the EMF documents the
/// same daemon wrote to stderr.
final class PrometheusScrapeTests: XCTestCase {
    static let playlist = "[[playlists]]\nid = \"37i9dQZF1DXcBWIGoYBM5M\"\n"

    private func parse(_ listen: String) throws -> AppConfig.Metrics.Listen? {
        try ConfigLoader.parse(text: Self.playlist + "[metrics]\nlisten = \(listen)\n", sourcePath: "/etc/t.toml").metrics.listen
    }

    // MARK: config rule

    func testListenUnsetIsOff() throws {
        XCTAssertNil(try ConfigLoader.parse(text: Self.playlist, sourcePath: "t").metrics.listen)
        XCTAssertNil(try ConfigLoader.parse(text: Self.playlist + "[metrics]\ninterval = \"1s\"\n", sourcePath: "t").metrics.listen)
    }

    func testGoodListenValues() throws {
        let good: [(String, String, Int)] = [
            ("127.0.0.1:9464", "127.0.0.1", 9464), ("[::1]:9464", "::1", 9464), ("localhost:1", "localhost", 1),
            ("0.0.0.0:65535", "0.0.0.0", 65535), ("[::]:9100", "::", 9100), ("10.1.2.3:80", "10.1.2.3", 80),
            ("[::ffff:127.0.0.1]:9464", "::ffff:127.0.0.1", 9464), ("[2001:db8:0:0:0:0:2:1]:9464", "2001:db8:0:0:0:0:2:1", 9464),
            ("[fe80::1:2]:9464", "fe80::1:2", 9464),
        ]
        for (text, host, port) in good {
            let l = try XCTUnwrap(try parse("\"\(text)\""), text)
            XCTAssertEqual(l, .init(host: host, port: port), text)
            XCTAssertEqual(l.description, text, text)
        }
    }

    func testBadListenValuesAreOneLineConfigErrors() {
        let bad: [(String, String)] = [
            ("\"\"", "no port"), ("\"127.0.0.1\"", "no port"), ("\"127.0.0.1:0\"", "port must be a number from 1 to 65535"),
            ("\"127.0.0.1:65536\"", "1 to 65535"), ("\"127.0.0.1:\"", "1 to 65535"), ("\"127.0.0.1:http\"", "1 to 65535"),
            ("\"127.0.0.1:+80\"", "1 to 65535"), ("\"127.0.0.1:9464 \"", "1 to 65535"), ("\"::1:9464\"", "must be in brackets"),
            ("\"[::1]\"", "no port after"), ("\"[::1:9464\"", "missing \"]\""), ("\"[127.0.0.1]:80\"", "must be an IPv6 address"),
            ("\"example.com:9464\"", "not a host name"), ("\"256.1.1.1:80\"", "host must be"), ("\"01.2.3.4:80\"", "host must be"),
            ("\"[fe80::1%eth0]:80\"", "must be an IPv6 address"), ("\"[1:2:3:4:5:6:7:8:9]:80\"", "must be an IPv6 address"),
            ("\":9464\"", "host must be"), ("9464", "expected a string"),
        ]
        for (value, fragment) in bad {
            do {
                _ = try parse(value)
                XCTFail("\(value) accepted")
            } catch let error as ConfigError {
                XCTAssertEqual(error.key, "metrics.listen", value)
                XCTAssertTrue(error.message.contains(fragment), "\(value): \(error)")
                XCTAssertTrue(error.description.hasPrefix("/etc/t.toml: metrics.listen: "), "\(error)")
                XCTAssertFalse(error.description.contains("\n"))
            } catch {
                XCTFail("\(value): \(error)")
            }
        }
    }

    func testBadListenExits78NamingTheKey() throws {
        let h = try Harness(.init(scenario: "small"), extraConfig: "[metrics]\nlisten = \"example.com:9464\"\n")
        for args in [["check-config"], ["run"]] {
            let r = try h.run(args + ["--config", h.configURL.path])
            XCTAssertEqual(r.status, 78, "\(args): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("metrics.listen: host must be"), r.stderr)
        }
    }

    // MARK: end to end

    /// A free TCP port on loopback (bound to port 0, then released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let r = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 ? getsockname(fd, $0, &len) : -1 }
        }
        guard r == 0 else { throw NSError(domain: "freePort", code: Int(errno)) }
        return Int(UInt16(bigEndian: a.sin_port))
    }

    /// One HTTP request over a real socket; (status line, headers, body) or nil.
    static func http(port: Int, _ request: String) -> (status: Int, headers: [String: String], body: String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let c = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard c == 0 else { return nil }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        let text = String(decoding: out, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        guard let status = lines.first?.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        var headers: [String: String] = [:]
        for l in lines.dropFirst() {
            if let i = l.firstIndex(of: ":") { headers[l[..<i].lowercased()] = l[l.index(after: i)...].trimmingCharacters(in: .whitespaces) }
        }
        return (status, headers, String(text[split.upperBound...]))
    }

    struct Sample { var name: String; var labels: [String: String]; var value: Double }

    /// Parses a scrape with prometheus_client's `text_string_to_metric_families` (the reference
    /// parser; fails the test if the text is not valid exposition format).
    static func parseWithPrometheusClient(_ text: String) throws -> (samples: [Sample], types: [String: String]) {
        let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = {"samples": [], "types": {}}
        for fam in text_string_to_metric_families(sys.stdin.read()):
            out["types"][fam.name] = fam.type
            for s in fam.samples:
                out["samples"].append([s.name, s.labels, s.value])
        print(json.dumps(out))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = stderr
        try p.run()
        stdin.fileHandleForWriting.write(Data(text.utf8))
        try stdin.fileHandleForWriting.close()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "prometheus_client", code: Int(p.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: String(decoding: err, as: UTF8.self)])
        }
        let obj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let samples = (obj["samples"] as! [[Any]]).map {
            Sample(name: $0[0] as! String, labels: $0[1] as! [String: String], value: ($0[2] as! NSNumber).doubleValue)
        }
        return (samples, obj["types"] as! [String: String])
    }

    /// The service-level EMF documents ([Service] dimension set) on the daemon's stderr so far:
    /// metric name → value, in order. Only complete lines.
    static func emfDocuments(_ stderrURL: URL) -> [[String: Double]] {
        guard let text = try? String(contentsOf: stderrURL, encoding: .utf8) else { return [] }
        var docs: [[String: Double]] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            guard let brace = line.firstIndex(of: "{"), line.contains("\"_aws\"") else { continue }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line[brace...].utf8)) as? [String: Any],
                  let aws = obj["_aws"] as? [String: Any], let directive = (aws["CloudWatchMetrics"] as? [[String: Any]])?.first,
                  let dims = directive["Dimensions"] as? [[String]], dims == [["Service"]],
                  let metrics = directive["Metrics"] as? [[String: Any]] else { continue }
            var doc: [String: Double] = [:]
            for m in metrics {
                let name = m["Name"] as! String
                switch obj[name] {
                case let n as NSNumber: doc[name] = n.doubleValue
                case let a as [NSNumber]: doc[name] = a.reduce(0) { $0 + $1.doubleValue }
                default: break
                }
            }
            docs.append(doc)
        }
        return docs
    }

    static func quiet(_ doc: [String: Double]) -> Bool {
        doc.allSatisfy { MetricNames.gauges.contains($0.key) || $0.value == 0 }
    }

    func testScrapeMatchesTheEMFDocuments() throws {
        let port = try Self.freePort()
        let h = try Harness(.init(scenario: "generated", playlists: 3, items: 40, seed: 17), extraConfig: """
            [metrics]
            interval = "1s"
            listen = "127.0.0.1:\(port)"
            """)
        let (daemon, _, stderrURL) = try h.launch(["run", "--config", h.configURL.path])
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }

        // Listening before READY: it answers as soon as the process is up.
        var first: (status: Int, headers: [String: String], body: String)?
        for _ in 0..<100 where first == nil {
            first = Self.http(port: port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            if first == nil { usleep(100_000) }
        }
        let scrape0 = try XCTUnwrap(first, "no answer on 127.0.0.1:\(port)")
        XCTAssertEqual(scrape0.status, 200)
        XCTAssertEqual(scrape0.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(Self.http(port: port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")?.status, 404)
        XCTAssertEqual(Self.http(port: port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")?.status, 405)

        // Let it poll every playlist and upload (sink max_age 1s).
        let polled = { Self.emfDocuments(stderrURL).reduce(0) { $0 + ($1[MetricNames.playlistsPolled] ?? 0) } }
        let uploaded = { Self.emfDocuments(stderrURL).reduce(0) { $0 + ($1[MetricNames.batchesUploaded] ?? 0) } }
        let t0 = Date()
        while (polled() < 3 || uploaded() < 1), Date().timeIntervalSince(t0) < 60 { usleep(250_000) }
        XCTAssertGreaterThanOrEqual(polled(), 3, "the daemon did not poll")
        XCTAssertGreaterThanOrEqual(uploaded(), 1, "the daemon did not upload")

        // Scrape between two quiet EMF intervals (no counter moved in the one before nor the one
        // after), so the scrape and the documents describe the same moment.
        var matched = false
        for _ in 0..<30 where !matched {
            var docs = Self.emfDocuments(stderrURL)
            guard let last = docs.last, Self.quiet(last) else { usleep(300_000); continue }
            let before = docs.count
            let scrape = try XCTUnwrap(Self.http(port: port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"))
            XCTAssertEqual(scrape.status, 200)
            let deadline = Date().addingTimeInterval(5)
            while docs.count <= before, Date() < deadline { usleep(100_000); docs = Self.emfDocuments(stderrURL) }
            guard docs.count > before, docs[before...].allSatisfy(Self.quiet),
                  MetricNames.gauges.allSatisfy({ docs[before][$0] == docs[before - 1][$0] }) else { continue }
            matched = true

            let (samples, types) = try Self.parseWithPrometheusClient(scrape.body)
            var values: [String: Double] = [:]
            for s in samples where s.labels.isEmpty { values[s.name] = s.value }
            let latest = docs[before - 1]
            // Every metric any EMF document named has its Prometheus twin.
            let emfNames = Set(docs.flatMap(\.keys))
            XCTAssertTrue(emfNames.isSuperset(of: MetricNames.required), "\(emfNames)")
            for name in emfNames.sorted() {
                let twin = PrometheusNames.twin(of: name)
                let prom = try XCTUnwrap(values[twin], "\(name) has no Prometheus twin \(twin) in:\n\(scrape.body)")
                if MetricNames.gauges.contains(name) {
                    // Gauges: the latest EMF value.
                    XCTAssertEqual(types[twin], "gauge", twin)
                    let emf = latest[name] ?? 0
                    XCTAssertEqual(prom, emf, accuracy: 1e-5 * max(1, abs(emf)), "\(twin) vs EMF \(name)")
                } else {
                    // Counters: cumulative, the sum of every interval's EMF value so far.
                    XCTAssertTrue(twin.hasSuffix("_total"), twin)
                    XCTAssertEqual(types[String(twin.dropLast("_total".count))], "counter", twin)
                    let emf = docs[..<before].reduce(0) { $0 + ($1[name] ?? 0) }
                    XCTAssertEqual(prom, emf, accuracy: 1e-6, "\(twin) vs sum of EMF \(name)")
                }
            }
            XCTAssertGreaterThanOrEqual(values["spotifyd_etl_playlists_polled_total"] ?? 0, 3)
            XCTAssertGreaterThan(values["spotifyd_etl_api_requests_total"] ?? 0, 0)
            XCTAssertGreaterThan(values["spotifyd_etl_bytes_uploaded_total"] ?? 0, 0)
            XCTAssertNotNil(values["spotifyd_etl_outbox_oldest_age_seconds"])
            XCTAssertNotNil(values["spotifyd_etl_poll_lag_seconds"])
            XCTAssertEqual(values["spotifyd_etl_up"], 1)
            let build = samples.filter { $0.name == "spotifyd_etl_build_info" }
            XCTAssertEqual(build.count, 1)
            XCTAssertEqual(build.first?.labels, ["version": ETLVersion.string])
            XCTAssertEqual(build.first?.value, 1)
        }
        XCTAssertTrue(matched, "never found two quiet EMF intervals around a scrape")

        // Closed at shutdown.
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        XCTAssertEqual(daemon.terminationStatus, 0)
        XCTAssertNil(Self.http(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), "still listening after exit")
    }

    func testPortInUseIsAStartupError() throws {
        // Hold the port with a listening socket.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let r = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 ? getsockname(fd, $0, &len) : -1 }
        }
        XCTAssertEqual(r, 0)
        XCTAssertEqual(listen(fd, 1), 0)
        let port = Int(UInt16(bigEndian: a.sin_port))
        let h = try Harness(.init(scenario: "small"), extraConfig: "[metrics]\nlisten = \"127.0.0.1:\(port)\"\n")
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }
        var env = h.environment
        env["NOTIFY_SOCKET"] = notify.path
        let (daemon, _, err) = try h.launch(["run", "--config", h.configURL.path], env: env)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        daemon.waitUntilExit()
        XCTAssertNotEqual(daemon.terminationStatus, 0)
        let text = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains("metrics listen 127.0.0.1:\(port): bind: Address already in use"), text)
        XCTAssertFalse(notify.messages.contains { $0.contains("READY=1") })
    }
}
