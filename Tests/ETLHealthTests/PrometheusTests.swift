import ETLCore
import Foundation
import Glibc
import XCTest
@testable import ETLHealth

/// A plain TCP client for the endpoint tests: real sockets on loopback.
enum TCPClient {
    static func connect(port: Int, host: String = "127.0.0.1") -> Int32? {
        let v6 = host.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let r: Int32
        if v6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = in_port_t(UInt16(port).bigEndian)
            _ = inet_pton(AF_INET6, host, &a.sin6_addr)
            r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            _ = inet_pton(AF_INET, host, &a.sin_addr)
            r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard r == 0 else { close(fd); return nil }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) {
        let b = Array(text.utf8)
        _ = b.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Everything until EOF (or an error/timeout); nil when nothing at all arrived.
    static func readAll(_ fd: Int32) -> [UInt8]? {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return n == 0 || !out.isEmpty ? out : nil }
            out += buf[0..<n]
        }
    }

    struct Response { var status: Int; var headers: [String: String]; var body: String }

    static func parse(_ raw: [UInt8]) -> Response? {
        let text = String(decoding: raw, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for l in lines.dropFirst() {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(status: status, headers: headers, body: String(text[split.upperBound...]))
    }

    static func request(port: Int, host: String = "127.0.0.1", _ raw: String) -> Response? {
        guard let fd = connect(port: port, host: host) else { return nil }
        defer { close(fd) }
        send(fd, raw)
        return readAll(fd).flatMap(parse)
    }

    static func get(port: Int, host: String = "127.0.0.1", _ path: String = "/metrics", method: String = "GET") -> Response? {
        request(port: port, host: host, "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n")
    }
}

final class PrometheusNamesTests: XCTestCase {
    func testEveryEMFMetricHasItsTwin() {
        let twins = Dictionary(uniqueKeysWithValues: PrometheusNames.required.map { ($0.emf, $0.prometheus) })
        XCTAssertEqual(twins.count, MetricNames.required.count)
        XCTAssertEqual(twins["ApiRequests"], "spotifyd_etl_api_requests_total")
        XCTAssertEqual(twins["PlaylistsPolled"], "spotifyd_etl_playlists_polled_total")
        XCTAssertEqual(twins["BytesUploaded"], "spotifyd_etl_bytes_uploaded_total")
        XCTAssertEqual(twins["UploadFailures"], "spotifyd_etl_upload_failures_total")
        XCTAssertEqual(twins["OutboxOldestAgeSeconds"], "spotifyd_etl_outbox_oldest_age_seconds")
        XCTAssertEqual(twins["PollLagSeconds"], "spotifyd_etl_poll_lag_seconds")
        XCTAssertEqual(twins["OutboxRows"], "spotifyd_etl_outbox_rows")
        for (emf, prom) in twins {
            // Valid Prometheus names, counters (and only counters) ending in _total.
            XCTAssertNotNil(prom.range(of: "^spotifyd_etl_[a-z0-9_]+$", options: .regularExpression), prom)
            XCTAssertEqual(prom.hasSuffix("_total"), !MetricNames.gauges.contains(emf), prom)
            XCTAssertFalse(prom.contains("__"), prom)
        }
    }

    func testSnakeCase() {
        XCTAssertEqual(PrometheusNames.snakeCase("OutboxOldestAgeSeconds"), "outbox_oldest_age_seconds")
        XCTAssertEqual(PrometheusNames.snakeCase("HTTPErrors"), "http_errors")
        XCTAssertEqual(PrometheusNames.snakeCase("S3Uploads"), "s3_uploads")
        XCTAssertEqual(PrometheusNames.snakeCase("PlaylistId"), "playlist_id")
        XCTAssertEqual(PrometheusNames.snakeCase("spotifyd-etl.queue depth"), "spotifyd_etl_queue_depth")
        XCTAssertEqual(PrometheusNames.snakeCase("9lives"), "_9lives")
        XCTAssertEqual(PrometheusNames.name(for: "RequestLatency", kind: .timer), "spotifyd_etl_request_latency_seconds")
        XCTAssertEqual(PrometheusNames.name(for: "Retries_total", kind: .counter), "spotifyd_etl_retries_total")
        XCTAssertEqual(PrometheusNames.name(for: "Depth", kind: .gauge), "spotifyd_etl_depth")
    }

    func testRegistryRendersMappedNamesBuildInfoAndUp() {
        let m = PrometheusMetrics(version: "9.8.7")
        m.makeCounter(label: MetricNames.apiRequests, dimensions: []).increment(by: 3)
        m.makeCounter(label: MetricNames.apiRequests, dimensions: []).increment(by: 2)
        m.makeRecorder(label: MetricNames.outboxOldestAgeSeconds, dimensions: [], aggregate: false).record(12.5)
        m.makeCounter(label: "CacheHits", dimensions: [("PlaylistId", "p1")]).increment(by: 1)
        let text = String(decoding: m.render(), as: UTF8.self)
        let lines = Set(text.split(separator: "\n").map(String.init))
        XCTAssertTrue(lines.contains("spotifyd_etl_api_requests_total 5"), text)
        XCTAssertTrue(lines.contains("spotifyd_etl_outbox_oldest_age_seconds 12.5"), text)
        XCTAssertTrue(lines.contains("spotifyd_etl_build_info{version=\"9.8.7\"} 1.0"), text)
        XCTAssertTrue(lines.contains("spotifyd_etl_up 1.0"), text)
        XCTAssertTrue(lines.contains("spotifyd_etl_cache_hits_total{playlist_id=\"p1\"} 1"), text)
        XCTAssertTrue(lines.contains("# TYPE spotifyd_etl_api_requests_total counter"), text)
        XCTAssertTrue(lines.contains("# TYPE spotifyd_etl_poll_lag_seconds gauge"), text)
        // Registered up front: every EMF metric is in the scrape before anything happened.
        for (_, prom) in PrometheusNames.required {
            XCTAssertTrue(lines.contains { $0.hasPrefix(prom + " ") }, "\(prom) missing:\n\(text)")
        }
    }
}

final class PrometheusServerTests: XCTestCase {
    private func server(maxConnections: Int = 16, deadline: Double = 5, host: String = "127.0.0.1",
                        body: String = "spotifyd_etl_up 1\n") throws -> PrometheusServer {
        let s = PrometheusServer(host: host, port: 0, maxConnections: maxConnections, deadline: deadline) { Array(body.utf8) }
        try s.start()
        XCTAssertGreaterThan(s.port, 0)
        return s
    }

    func testGetMetrics200WithContentType() throws {
        let s = try server()
        defer { s.stop() }
        let r = try XCTUnwrap(TCPClient.get(port: s.port))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(r.headers["connection"], "close")
        XCTAssertEqual(r.headers["content-length"], "18")
        XCTAssertEqual(r.body, "spotifyd_etl_up 1\n")
        // A query string does not change the path; HEAD has the headers and no body.
        XCTAssertEqual(TCPClient.get(port: s.port, "/metrics?x=1")?.status, 200)
        let head = try XCTUnwrap(TCPClient.get(port: s.port, method: "HEAD"))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.body, "")
    }

    func testOtherPaths404OtherMethods405BadRequest400() throws {
        let s = try server()
        defer { s.stop() }
        XCTAssertEqual(TCPClient.get(port: s.port, "/")?.status, 404)
        XCTAssertEqual(TCPClient.get(port: s.port, "/metrics/x")?.status, 404)
        XCTAssertEqual(TCPClient.get(port: s.port, "/favicon.ico")?.status, 404)
        for m in ["POST", "PUT", "DELETE", "OPTIONS"] {
            let r = TCPClient.request(port: s.port, "\(m) /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            XCTAssertEqual(r?.status, 405, m)
            XCTAssertEqual(r?.headers["allow"], "GET, HEAD", m)
        }
        XCTAssertEqual(TCPClient.request(port: s.port, "hello\r\n\r\n")?.status, 400)
    }

    func testIPv6LoopbackAndPortInUse() throws {
        let s = try server(host: "::1")
        defer { s.stop() }
        XCTAssertEqual(s.address, "[::1]:\(s.port)")
        XCTAssertEqual(TCPClient.get(port: s.port, host: "::1")?.status, 200)
        // Binding a port that is taken is an error at start, naming the address.
        let taken = try server()
        defer { taken.stop() }
        let again = PrometheusServer(host: "127.0.0.1", port: taken.port) { [] }
        XCTAssertThrowsError(try again.start()) { e in
            XCTAssertTrue("\(e)".contains("127.0.0.1:\(taken.port)"), "\(e)")
            XCTAssertTrue("\(e)".contains("in use"), "\(e)")
        }
        XCTAssertThrowsError(try PrometheusServer(host: "example.com", port: 1) { [] }.start())
    }

    func testSilentClientIsCutAtTheDeadline() throws {
        let s = try server(deadline: 1)
        defer { s.stop() }
        let fd = try XCTUnwrap(TCPClient.connect(port: s.port))
        defer { close(fd) }
        let t0 = Date()
        XCTAssertEqual(TCPClient.readAll(fd) ?? [], [], "closed without an answer")
        let took = Date().timeIntervalSince(t0)
        // The 1 s deadline cut it: not at once, and long before a client would give up (a
        // generous bound, so a loaded machine does not fail it).
        XCTAssertGreaterThan(took, 0.8)
        XCTAssertLessThan(took, 10)
    }

    func testTricklingClientIsCutByTheWholeRequestDeadline() throws {
        let s = try server(deadline: 1)
        defer { s.stop() }
        let fd = try XCTUnwrap(TCPClient.connect(port: s.port))
        defer { close(fd) }
        let t0 = Date()
        // One byte every 200 ms never ends the head: a per-read timeout would never fire.
        var cut = false
        for b in "GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".map(String.init) {
            TCPClient.send(fd, b)
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 200) == 1 { cut = true; break }
        }
        XCTAssertTrue(cut, "a trickling client was never cut")
        XCTAssertTrue((TCPClient.readAll(fd) ?? []).isEmpty, "no answer to an unfinished request")
        XCTAssertGreaterThan(Date().timeIntervalSince(t0), 0.8, "cut by the 1 s deadline, not at once")
    }

    func testMoreIdleConnectionsThanTheCapDoNotStopALaterScrape() throws {
        let cap = 4
        let s = try server(maxConnections: cap, deadline: 1.5)
        defer { s.stop() }
        var idle: [Int32] = []
        for _ in 0..<(cap * 3) { idle.append(try XCTUnwrap(TCPClient.connect(port: s.port))) }
        defer { idle.forEach { close($0) } }
        // Those beyond the cap are closed at accept, at once.
        usleep(300_000)
        var closedEarly = 0
        for fd in idle {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 0) == 1 { closedEarly += 1 }
        }
        XCTAssertGreaterThanOrEqual(closedEarly, cap * 2, "connections beyond the cap must be closed at accept")
        // While the cap is full a scrape is refused (closed), not queued forever...
        XCTAssertNil(TCPClient.get(port: s.port))
        // ...and once the idle ones are cut at their deadline, a real scrape answers.
        usleep(1_700_000)
        XCTAssertEqual(TCPClient.get(port: s.port)?.status, 200)
        // Closing idle connections from the client side frees their slots too.
        var more: [Int32] = []
        for _ in 0..<cap { more.append(try XCTUnwrap(TCPClient.connect(port: s.port))) }
        usleep(200_000)
        more.forEach { close($0) }
        usleep(300_000)
        XCTAssertEqual(TCPClient.get(port: s.port)?.status, 200)
    }

    /// Out of descriptors, accept fails with EMFILE while the listening socket stays readable:
    /// the server must pause instead of spinning on it, and serve the waiting client later.
    func testEMFILEAtAcceptBacksOffInsteadOfSpinning() throws {
        let s = try server()
        defer { s.stop() }
        let nofile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var saved = rlimit()
        XCTAssertEqual(getrlimit(nofile, &saved), 0)
        // The client's socket is made first; connecting it needs no new descriptor here.
        let late = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(late, 0)
        defer { close(late) }
        // The lowest free descriptor number: with the soft limit there, no new one can be made,
        // so the server's accept fails with EMFILE while the connection waits in the backlog.
        let lowest = settledLowestFreeDescriptor()
        var tight = saved
        tight.rlim_cur = rlim_t(lowest)
        XCTAssertEqual(setrlimit(nofile, &tight), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(s.port).bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(late, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let before = s.acceptStats
        usleep(700_000)
        let during = s.acceptStats
        XCTAssertEqual(setrlimit(nofile, &saved), 0)
        XCTAssertEqual(connected, 0)
        XCTAssertGreaterThan(s.backoffCount, 0, "accept never hit EMFILE")
        // 700 ms of 100 ms pauses is about 7 calls; a spinning loop makes many thousands.
        let calls = during.acceptCalls - before.acceptCalls
        XCTAssertLessThan(calls, 60, "accept was called \(calls) times while out of descriptors: spinning")
        // With descriptors back, the client that waited in the backlog is served.
        TCPClient.send(late, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(late, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        XCTAssertEqual(TCPClient.readAll(late).flatMap(TCPClient.parse)?.status, 200)
    }

    func testStopClosesTheListener() throws {
        let s = try server()
        let port = s.port
        XCTAssertEqual(TCPClient.get(port: port)?.status, 200)
        s.stop()
        usleep(100_000)
        XCTAssertNil(TCPClient.connect(port: port), "still accepting after stop")
    }
}
