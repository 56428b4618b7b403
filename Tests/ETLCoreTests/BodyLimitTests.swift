import ETLHTTP
import ETLTestSupport
import Foundation
import XCTest

/// `HTTPRequest.maxBodyBytes` against a real loopback peer: a body past the limit — stated up
/// front, streamed without end, or inflated from a small gzip stream — aborts the transfer with
/// `.bodyTooLarge`, and memory stays bounded; an error body is cut to its first bytes with its
/// status kept.
final class BodyLimitTests: XCTestCase {
    /// Paths: /stated?n= (n bytes, Content-Length), /endless (chunked, never ends),
    /// /bomb (gzip of zeros streamed without end: 1 KiB inflates to ~1 MiB), /gzip?n= (n
    /// bytes gzipped, Content-Length), /error?n= (503 with n bytes). One request per connection.
    static let script = #"""
    import gzip, threading, zlib
    from urllib.parse import urlsplit, parse_qs

    def handle(conn):
        try:
            head = read_request_head(conn)
            if head is None:
                return
            target = head.split(b" ")[1].decode()
            u = urlsplit(target)
            q = parse_qs(u.query)
            n = int(q.get("n", ["0"])[0])
            if u.path == "/stated":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n)
                block = b"a" * 65536
                sent = 0
                while sent < n:
                    k = min(len(block), n - sent)
                    conn.sendall(block[:k])
                    sent += k
            elif u.path == "/endless":
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                chunk = b"%x\r\n" % 65536 + b"z" * 65536 + b"\r\n"
                while True:
                    conn.sendall(chunk)
            elif u.path == "/bomb":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n")
                c = zlib.compressobj(9, zlib.DEFLATED, 31)
                zeros = bytes(1 << 20)
                for _ in range(1024):  # 1 GiB of zeros, about 1 MiB on the wire
                    out = c.compress(zeros)
                    if out:
                        conn.sendall(out)
                conn.sendall(c.flush())
            elif u.path == "/gzip":
                body = gzip.compress(b"b" * n)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            elif u.path == "/error":
                body = b"e" * n
                conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n + body)
        except OSError:
            pass
        finally:
            conn.close()

    s = listen()
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
    """#

    private var peer: ScriptedPeer?

    override func setUpWithError() throws {
        peer = try ScriptedPeer(script: Self.script)
    }

    override func tearDown() {
        peer?.stop()
        peer = nil
        super.tearDown()
    }

    private func url(_ path: String) throws -> String {
        try XCTUnwrap(peer, "scripted peer did not start").baseURL + path
    }

    /// The process's peak resident set so far, bytes.
    private func peakRSS() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    private func assertBodyTooLarge(_ request: HTTPRequest, limit: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try CurlHTTPClient().send(request), file: file, line: line) { error in
            guard let e = error as? HTTPTransportError else { return XCTFail("not a transport error: \(error)", file: file, line: line) }
            XCTAssertEqual(e.kind, .bodyTooLarge(limit: limit), "\(e)", file: file, line: line)
            XCTAssertFalse(e.isTimeout, file: file, line: line)
            XCTAssertTrue(e.message.contains("exceeded \(BodyLimit.describe(limit)) limit"), e.message, file: file, line: line)
        }
    }

    func testBodyUnderTheLimitArrivesWhole() throws {
        let r = try CurlHTTPClient().send(HTTPRequest(url: try url("/stated?n=100000"), maxBodyBytes: 100_000))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body.count, 100_000)
        XCTAssertFalse(r.bodyTruncated)
        let g = try CurlHTTPClient().send(HTTPRequest(url: try url("/gzip?n=100000"), maxBodyBytes: 100_000))
        XCTAssertEqual(g.body.count, 100_000, "the limit counts decoded bytes, and this many fit")
    }

    func testStatedLengthPastTheLimitIsRefused() throws {
        assertBodyTooLarge(HTTPRequest(url: try url("/stated?n=100001"), maxBodyBytes: 100_000), limit: 100_000)
        assertBodyTooLarge(HTTPRequest(url: try url("/stated?n=\(17 << 20)"), maxBodyBytes: BodyLimit.apiPage),
                           limit: BodyLimit.apiPage)
    }

    func testLimitCountsDecodedBytes() throws {
        // ~100 bytes on the wire, 100,001 once inflated.
        assertBodyTooLarge(HTTPRequest(url: try url("/gzip?n=100001"), maxBodyBytes: 100_000), limit: 100_000)
    }

    func testEndlessChunkedBodyIsCutAtTheLimit() throws {
        let before = peakRSS()
        assertBodyTooLarge(HTTPRequest(url: try url("/endless"), timeout: 60, maxBodyBytes: BodyLimit.apiPage),
                           limit: BodyLimit.apiPage)
        XCTAssertLessThan(peakRSS() - before, 64 << 20, "an endless body costs at most the limit and its growth")
    }

    func testGzipBombIsStoppedWithBoundedMemory() throws {
        let before = peakRSS()
        assertBodyTooLarge(HTTPRequest(url: try url("/bomb"), timeout: 60, maxBodyBytes: BodyLimit.apiPage),
                           limit: BodyLimit.apiPage)
        assertBodyTooLarge(HTTPRequest(url: try url("/bomb"), timeout: 60, maxBodyBytes: BodyLimit.token),
                           limit: BodyLimit.token)
        XCTAssertLessThan(peakRSS() - before, 64 << 20, "1 GiB of inflated zeros never reaches memory")
    }

    func testErrorBodyIsCutKeepingItsStatus() throws {
        let r = try CurlHTTPClient().send(HTTPRequest(url: try url("/error?n=\(1 << 20)"), maxBodyBytes: BodyLimit.apiPage))
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.header("retry-after"), "7")
        XCTAssertEqual(r.body.count, BodyLimit.error)
        XCTAssertTrue(r.bodyTruncated)
        let small = try CurlHTTPClient().send(HTTPRequest(url: try url("/error?n=300")))
        XCTAssertEqual(small.body.count, 300)
        XCTAssertFalse(small.bodyTruncated)
    }

    func testDefaultLimitIsBounded() {
        let r = HTTPRequest(url: "http://127.0.0.1:1/")
        XCTAssertEqual(r.maxBodyBytes, BodyLimit.standard)
        XCTAssertLessThanOrEqual(r.maxBodyBytes, 16 << 20)
        XCTAssertEqual(r.maxErrorBodyBytes, 64 << 10)
        XCTAssertEqual(BodyLimit.describe(BodyLimit.apiPage), "16 MiB")
        XCTAssertEqual(BodyLimit.describe(BodyLimit.token), "64 KiB")
        XCTAssertEqual(BodyLimit.describe(BodyLimit.s3XML), "1 MiB")
    }
}
