import ETLCore
import ETLHTTP
import ETLTestSupport
import Foundation
import Logging
import XCTest
@testable import ETLExtraction

/// Numbers and sizes from the network that must never trap or grow memory: Retry-After,
/// `expires_in`, and bodies past their limit, as the Spotify client and the token provider
/// meet them from a real loopback peer.
final class HostileNumbersTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_780_000_000)

    // MARK: Retry-After, pure

    func testRetryAfterTable() {
        let day = RetryAfter.maximum
        let cases: [(String?, RetryAfter.Reading, Double?)] = [
            (nil, .absent, nil),
            ("", .absent, nil),
            ("   ", .absent, nil),
            ("  5 ", .wait(5), 5),
            ("0", .wait(0), 0),
            ("1.5", .wait(1.5), 1.5),
            ("86400", .wait(day), day),
            ("86401", .capped, day),
            ("100000000000000000000", .capped, day),
            (String(repeating: "9", count: 400), .capped, day),
            ("1e20", .invalid, nil),
            ("-5", .invalid, nil),
            ("-100000000000000000000", .invalid, nil),
            ("soon", .invalid, nil),
            (".", .invalid, nil),
            ("1.2.3", .invalid, nil),
            ("NaN", .invalid, nil),
            ("inf", .invalid, nil),
            ("\u{1B}[31m5", .invalid, nil),
            (RetryAfter.imfFixdate(now.addingTimeInterval(90)), .wait(90), 90),
            (RetryAfter.imfFixdate(now.addingTimeInterval(-90)), .wait(0), 0),
            (RetryAfter.imfFixdate(now.addingTimeInterval(2 * 86_400)), .capped, day),
            ("Fri, 31 Dec 99999 23:59:59 GMT", .capped, day),
            ("Fri, 31 Dec 9223372036854775807 23:59:59 GMT", .capped, day),
            ("Fri, 31 Dec 99999999999999999999999 23:59:59 GMT", .invalid, nil),
            ("Fri, 31 Dec 2030 -1:59:59 GMT", .invalid, nil),
            ("Sunday, 06-Nov-94 08:49:37 GMT", .wait(0), 0),
        ]
        for (header, reading, seconds) in cases {
            XCTAssertEqual(RetryAfter.read(header, now: now), reading, "\(String(describing: header))")
            XCTAssertEqual(RetryAfter.seconds(header, now: now), seconds, "\(String(describing: header))")
        }
    }

    func testCapWarningNamesTheRawValueSafely() throws {
        let w = try XCTUnwrap(RetryAfter.capWarning("100000000000000000000", now: now))
        XCTAssertTrue(w.contains("\"100000000000000000000\""), w)
        XCTAssertTrue(w.contains("24 h"), w)
        XCTAssertNil(RetryAfter.capWarning("30", now: now))
        XCTAssertNil(RetryAfter.capWarning("garbage", now: now))
        let long = try XCTUnwrap(RetryAfter.capWarning(String(repeating: "9", count: 5000), now: now))
        XCTAssertLessThan(long.count, 200, "a long raw value is cut")
    }

    func testDeferralFromHostileHeaders() {
        for header in ["100000000000000000000", "Fri, 31 Dec 99999 23:59:59 GMT"] {
            let d = RateGate.deferral(retryAfterHeader: header, body: Data(), now: now)
            XCTAssertEqual(d.until.timeIntervalSince(now), RetryAfter.maximum, header)
            XCTAssertEqual(d.cause, .rateLimited)
        }
        for header in ["-5", "1e20", "garbage"] {
            let d = RateGate.deferral(retryAfterHeader: header, body: Data(), now: now)
            XCTAssertEqual(d.until.timeIntervalSince(now), RetryAfter.defaultDelay, header)
        }
    }

    func testWholeSecondsNeverTraps() {
        XCTAssertEqual(RetryAfter.wholeSeconds(1.2), 2)
        XCTAssertEqual(RetryAfter.wholeSeconds(-3), 0)
        XCTAssertEqual(RetryAfter.wholeSeconds(1e20), Int(Int32.max))
        XCTAssertEqual(RetryAfter.wholeSeconds(.infinity), Int(Int32.max))
        XCTAssertEqual(RetryAfter.wholeSeconds(-.infinity), 0)
        XCTAssertEqual(RetryAfter.wholeSeconds(.nan), 0)
    }

    // MARK: expires_in, pure

    func testLifetimeClamp() {
        let cases: [(Double, Double)] = [
            (3600, 3600), (60, 60), (86_400, 86_400), (1e20, 86_400), (.infinity, 86_400), (86_401, 86_400),
            (0, 60), (-1, 60), (-.infinity, 60), (1, 60), (59.9, 60),
        ]
        for (stated, used) in cases {
            XCTAssertEqual(TokenProvider.lifetime(expiresIn: stated), used, "\(stated)")
        }
    }

    // MARK: Against a loopback peer

    /// /acc/<expires>/api/token answers a token living `<expires>` (raw JSON number text);
    /// /v1/playlists/big/items 17 MiB, /v1/playlists/bomb/items an endless gzip stream of
    /// zeros, /v1/playlists/rl/items a 429 with a 21-digit Retry-After, /v1/playlists/far/items
    /// a 429 dated in year 99999, /v1/playlists/ok/items a small page; /acc-big/api/token a
    /// 1 MiB token reply.
    static let script = #"""
    import threading, zlib

    def handle(conn):
        try:
            head = read_request_head(conn)
            if head is None:
                return
            path = head.split(b" ")[1].decode().split("?")[0]
            def send(status, body, extra=b""):
                conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n" % len(body) + extra + b"\r\n" + body)
            if path.startswith("/acc/") and path.endswith("/api/token"):
                expires = path.split("/")[2]
                send(b"200 OK", b'{"access_token":"tok","token_type":"Bearer","expires_in":' + expires.encode() + b'}')
            elif path == "/acc-big/api/token":
                send(b"200 OK", b'{"access_token":"tok","token_type":"Bearer","expires_in":3600,"pad":"' + b"x" * (1 << 20) + b'"}')
            elif path == "/v1/playlists/big/items":
                send(b"200 OK", b'{"items":[],"pad":"' + b"x" * (17 << 20) + b'"}')
            elif path == "/v1/playlists/bomb/items":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n")
                c = zlib.compressobj(9, zlib.DEFLATED, 31)
                zeros = bytes(1 << 20)
                for _ in range(1024):
                    out = c.compress(zeros)
                    if out:
                        conn.sendall(out)
                conn.sendall(c.flush())
            elif path == "/v1/playlists/rl/items":
                send(b"429 Too Many Requests", b'{"error":{"status":429,"message":"slow down"}}', b"Retry-After: 100000000000000000000\r\n")
            elif path == "/v1/playlists/far/items":
                send(b"429 Too Many Requests", b"{}", b"Retry-After: Fri, 31 Dec 99999 23:59:59 GMT\r\n")
            elif path == "/v1/playlists/ok/items":
                send(b"200 OK", b'{"items":[],"limit":50,"next":null,"offset":0,"total":0}')
            else:
                send(b"404 Not Found", b'{"error":{"status":404,"message":"no"}}')
        except OSError:
            pass
        finally:
            conn.close()

    s = listen()
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
    """#

    private var peer: ScriptedPeer!
    private let logs = CapturedLogs()

    override func setUpWithError() throws { peer = try ScriptedPeer(script: Self.script) }

    override func tearDown() {
        peer?.stop()
        peer = nil
        super.tearDown()
    }

    private func tokens(_ accounts: String) -> TokenProvider {
        TokenProvider(credentials: SpotifyCredentials(clientID: "id", clientSecret: "secret"), grant: .clientCredentials,
                      accountsURL: peer.baseURL + accounts, transport: CurlHTTPClient(), timeout: 30,
                      sleeper: RecordingSleeper(), logger: logs.logger())
    }

    private func client(_ gate: RateGate = RateGate()) -> SpotifyClient {
        SpotifyClient(settings: SpotifyClientSettings(apiURL: peer.baseURL + "/v1", accountsURL: peer.baseURL + "/acc/3600",
                                                      timeout: 30),
                      tokens: tokens("/acc/3600"), gate: gate, transport: CurlHTTPClient(),
                      capabilities: InMemoryCapabilityStore([Capability.itemsEndpoint: Capability.itemsModern]),
                      logger: logs.logger(), sleeper: RecordingSleeper())
    }

    func testAbsurdExpiresInIsClampedNotTrapped() throws {
        for (stated, lifetime) in [("1e20", 86_400.0), ("100000000000000000000", 86_400), ("0", 60), ("-5", 60), ("3600", 3600)] {
            let t = tokens("/acc/\(stated)")
            let before = Date()
            XCTAssertEqual(try t.accessToken(), "tok", stated)
            let expiry = try XCTUnwrap(t.tokenExpiry, stated)
            XCTAssertGreaterThanOrEqual(expiry.timeIntervalSince(before), lifetime - 1, stated)
            XCTAssertLessThanOrEqual(expiry.timeIntervalSince(before), lifetime + 1, stated)
            // Even a 60 s token is reused at once rather than fetched again for every request.
            XCTAssertEqual(try t.accessToken(), "tok")
            XCTAssertEqual(t.requestCount, 1, stated)
        }
        XCTAssertTrue(logs.lines.contains { $0.contains("expires_in 1e+20 is outside") }, "\(logs.lines)")
    }

    func testNonNumericExpiresInIsAnAuthFailure() {
        XCTAssertThrowsError(try tokens("/acc/\"soon\"").accessToken()) { error in
            guard case SpotifyError.authFailed(let m)? = error as? SpotifyError else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("expires_in"), m)
        }
    }

    func testOversizedTokenReplyIsMalformedAndNotRetried() {
        let t = tokens("/acc-big")
        XCTAssertThrowsError(try t.accessToken()) { error in
            guard case SpotifyError.authFailed(let m)? = error as? SpotifyError else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("exceeded 64 KiB limit"), m)
        }
        XCTAssertEqual(t.requestCount, 1)
    }

    func testOversizedPageIsMalformedAndNotRetried() throws {
        for id in ["big", "bomb"] {
            let c = client()
            XCTAssertThrowsError(try c.itemsPage(id, offset: 0)) { error in
                guard case SpotifyError.malformed(let m)? = error as? SpotifyError else { return XCTFail("\(error)") }
                XCTAssertTrue(m.contains("response body exceeded 16 MiB limit (GET /v1/playlists/\(id)/items"), m)
            }
            XCTAssertEqual(c.requestCount, 1, "\(id): an oversized answer is not asked for again at once")
        }
        XCTAssertTrue(logs.lines.contains { $0.contains("response body exceeded 16 MiB limit") }, "\(logs.lines.suffix(5))")
        XCTAssertNoThrow(try client().itemsPage("ok", offset: 0))
    }

    func testHugeRetryAfterDefersAtMostADay() throws {
        for id in ["rl", "far"] {
            let gate = RateGate()
            let before = Date()
            XCTAssertThrowsError(try client(gate).itemsPage(id, offset: 0)) { error in
                guard case SpotifyError.deferred(let until, _, let cause)? = error as? SpotifyError else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(cause, .rateLimited)
                XCTAssertLessThanOrEqual(until.timeIntervalSince(before), RetryAfter.maximum + 5, id)
                XCTAssertGreaterThan(until.timeIntervalSince(before), RetryAfter.maximum - 5, id)
            }
            XCTAssertNotNil(gate.permit(), "the gate is shut")
        }
        XCTAssertTrue(logs.lines.contains { $0.contains("Retry-After \"100000000000000000000\" asks for more than 24 h") },
                      "\(logs.lines)")
        XCTAssertTrue(logs.lines.contains { $0.contains("Retry-After \"Fri, 31 Dec 99999 23:59:59 GMT\" asks for more than 24 h") },
                      "\(logs.lines)")
    }
}
