import ETLCore
import ETLHTTP
import Foundation
import XCTest
@testable import ETLExtraction

/// The I/O-free parts: Retry-After parsing, gate arithmetic and persistence, PKCE,
/// credentials loading and their redacted descriptions.
final class PureLogicTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_780_000_000)

    // MARK: Retry-After

    func testRetryAfterSeconds() {
        XCTAssertEqual(RetryAfter.seconds("120", now: now), 120)
        XCTAssertEqual(RetryAfter.seconds(" 7 ", now: now), 7)
        XCTAssertEqual(RetryAfter.seconds("0", now: now), 0)
        XCTAssertNil(RetryAfter.seconds(nil, now: now))
        XCTAssertNil(RetryAfter.seconds("", now: now))
        XCTAssertNil(RetryAfter.seconds("soon", now: now))
        XCTAssertNil(RetryAfter.seconds("-5", now: now))
    }

    func testRetryAfterIMFFixdateAndObsoleteForms() throws {
        let d = try XCTUnwrap(RetryAfter.httpDate("Sun, 06 Nov 1994 08:49:37 GMT"))
        XCTAssertEqual(d.timeIntervalSince1970, 784_111_777)
        XCTAssertEqual(RetryAfter.httpDate("Sunday, 06-Nov-94 08:49:37 GMT")?.timeIntervalSince1970, 784_111_777)
        XCTAssertEqual(RetryAfter.httpDate("Sun Nov  6 08:49:37 1994")?.timeIntervalSince1970, 784_111_777)
        XCTAssertNil(RetryAfter.httpDate("Sun, 06 Foo 1994 08:49:37 GMT"))
        XCTAssertNil(RetryAfter.httpDate("Sun, 06 Nov 1994 25:49:37 GMT"))
        // Round trip through our formatter, and a date 90 s ahead yields 90 s.
        let later = now.addingTimeInterval(90)
        XCTAssertEqual(RetryAfter.imfFixdate(Date(timeIntervalSince1970: 784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT")
        XCTAssertEqual(RetryAfter.seconds(RetryAfter.imfFixdate(later), now: now), 90)
        // A date in the past means "now".
        XCTAssertEqual(RetryAfter.seconds("Sun, 06 Nov 1994 08:49:37 GMT", now: now), 0)
    }

    // MARK: RateGate

    func testDeferralRules() {
        let plain = RateGate.deferral(retryAfterHeader: "12", body: Data(), now: now)
        XCTAssertEqual(plain.until, now.addingTimeInterval(12))
        let absent = RateGate.deferral(retryAfterHeader: nil, body: Data(), now: now)
        XCTAssertEqual(absent.until, now.addingTimeInterval(30))
        let zero = RateGate.deferral(retryAfterHeader: "0", body: Data(), now: now)
        XCTAssertEqual(zero.until, now.addingTimeInterval(1), "Retry-After 0 must not become a hot loop")
        let quota = RateGate.deferral(retryAfterHeader: "5",
                                      body: Data(#"{"error":{"status":429,"message":"quota","reason":"QUOTA_EXCEEDED"}}"#.utf8),
                                      now: now)
        XCTAssertEqual(quota.until, now.addingTimeInterval(3600))
        XCTAssertEqual(quota.cause, .quotaExceeded)
        XCTAssertEqual(plain.cause, .rateLimited)
        let longQuota = RateGate.deferral(retryAfterHeader: "7200", body: Data(#"{"reason":"QUOTA_EXCEEDED"}"#.utf8), now: now)
        XCTAssertEqual(longQuota.until, now.addingTimeInterval(7200))
        XCTAssertEqual(longQuota.cause, .quotaExceeded)
        // Only the parsed JSON `reason` counts: the same word in a text body, in the message,
        // or as a reason of another value is an ordinary rate limit.
        for body in ["upstream said QUOTA_EXCEEDED", #"{"error":{"status":429,"message":"QUOTA_EXCEEDED"}}"#,
                     #"{"error":{"status":429,"message":"x","reason":"NOT_QUOTA_EXCEEDED"}}"#] {
            let d = RateGate.deferral(retryAfterHeader: "5", body: Data(body.utf8), now: now)
            XCTAssertEqual(d.cause, .rateLimited, body)
            XCTAssertEqual(d.until, now.addingTimeInterval(5), body)
        }
        XCTAssertNil(APIErrorBody.parse(Data("QUOTA_EXCEEDED".utf8), status: 429).reason)
    }

    func testDeferralCausePersistedFallsBackToRateLimited() {
        XCTAssertEqual(DeferralCause.persisted("quota_exceeded"), .quotaExceeded)
        XCTAssertEqual(DeferralCause.persisted("service_unavailable"), .serviceUnavailable)
        XCTAssertEqual(DeferralCause.persisted(nil), .rateLimited, "a park stored before causes were")
        XCTAssertEqual(DeferralCause.persisted("something_newer"), .rateLimited)
    }

    func testRequestFailureDescriptions() {
        XCTAssertEqual(RequestFailure.status(503, message: "Service unavailable").description, "HTTP 503: Service unavailable")
        let t = RequestFailure.transport(code: 28, message: "Operation timed out", isTimeout: true)
        XCTAssertEqual(t.description, "transport error 28: Operation timed out")
        struct Other: Error, CustomStringConvertible { var description: String { "secret-1 refused" } }
        XCTAssertEqual(RequestFailure.transport(Other()) { $0.replacing("secret-1", with: "[redacted]") },
                       .transport(code: -1, message: "[redacted] refused", isTimeout: false))
        let e = SpotifyError.retriesExhausted(request: "GET /playlists/x", attempts: 5, last: .status(500, message: "boom"))
        XCTAssertEqual(e.description, "Spotify request failed after retries: GET /playlists/x: HTTP 500: boom (5 attempts)")
    }

    func testGateOnlyMovesLaterAndPersists() {
        let store = InMemoryGateStore()
        let gate = RateGate(store: store)
        XCTAssertNil(gate.permit(now: now))
        gate.throttle(until: now.addingTimeInterval(3600), reason: "quota", cause: .quotaExceeded)
        gate.throttle(until: now.addingTimeInterval(10), reason: "short", cause: .rateLimited)
        XCTAssertEqual(gate.permit(now: now), now.addingTimeInterval(3600))
        XCTAssertEqual(gate.state(now: now)?.reason, "quota")
        XCTAssertEqual(gate.state(now: now)?.cause, .quotaExceeded)
        XCTAssertNil(gate.permit(now: now.addingTimeInterval(3600)))
        XCTAssertEqual(store.saveCount, 1, "the shorter throttle must not overwrite the stored park")

        // A new process (after kill -9) reading the same store stays shut.
        let restarted = RateGate(store: store)
        XCTAssertEqual(restarted.permit(now: now.addingTimeInterval(1800)), now.addingTimeInterval(3600))
        XCTAssertEqual(restarted.state(now: now)?.reason, "quota")
        XCTAssertEqual(restarted.state(now: now)?.cause, .quotaExceeded, "a quota park stays one across a restart")
    }

    func testGateIsThreadSafe() {
        let now = self.now
        let gate = RateGate(store: InMemoryGateStore())
        DispatchQueue.concurrentPerform(iterations: 200) { i in
            gate.throttle(until: now.addingTimeInterval(Double(i)), reason: "r\(i)", cause: .rateLimited)
            _ = gate.permit(now: now)
        }
        XCTAssertEqual(gate.permit(now: now), now.addingTimeInterval(199))
    }

    // MARK: Retry policy

    func testBackoffIsExponentialCappedAndJittered() {
        let p = RetryPolicy()
        for attempt in 1...10 {
            let d = p.delay(afterAttempt: attempt)
            let ceiling = min(0.25 * pow(2, Double(attempt - 1)), 2)
            XCTAssertLessThanOrEqual(d, ceiling)
            XCTAssertGreaterThanOrEqual(d, ceiling / 2)
        }
        XCTAssertEqual(p.maxAttempts, 5)
        XCTAssertTrue(RetryPolicy.isRetryable(status: 503))
        XCTAssertFalse(RetryPolicy.isRetryable(status: 501))
        XCTAssertFalse(RetryPolicy.isRetryable(status: 429))
    }

    // MARK: PKCE

    func testPKCEChallengeMatchesRFC7636AppendixB() {
        XCTAssertEqual(PKCE.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    func testPKCEVerifierShapeAndState() {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        for length in [10, 43, 64, 128, 500] {
            let p = PKCE.generate(length: length)
            XCTAssertTrue((43...128).contains(p.verifier.count))
            XCTAssertTrue(p.verifier.allSatisfy { allowed.contains($0) })
            XCTAssertEqual(p.challenge, PKCE.challenge(for: p.verifier))
            XCTAssertFalse(p.challenge.contains("="))
        }
        XCTAssertNotEqual(PKCE.generate().verifier, PKCE.generate().verifier)
        let s = PKCE.randomState()
        XCTAssertEqual(s.count, 43)
        XCTAssertNotEqual(s, PKCE.randomState())
    }

    func testQueryParsing() {
        let q = CallbackListener.parseQuery("code=a%2Fb&state=x+y&error=&code=second")
        XCTAssertEqual(q["code"], "a/b")
        XCTAssertEqual(q["state"], "x y")
        XCTAssertEqual(q["error"], "")
    }

    func testBoundedCacheForgetsOldestFirst() {
        var c = BoundedCache<String, Int>(capacity: 3)
        c.insert(1, for: "a"); c.insert(2, for: "b"); c.insert(3, for: "c")
        XCTAssertEqual(c.count, 3)
        c.insert(20, for: "b")  // refresh: no eviction, order unchanged
        XCTAssertEqual(c["b"], 20)
        XCTAssertEqual(c.count, 3)
        c.insert(4, for: "d")  // evicts "a"
        XCTAssertNil(c["a"])
        XCTAssertEqual([c["b"], c["c"], c["d"]], [20, 3, 4])
        c.insert(5, for: "e"); c.insert(6, for: "f")  // evicts "b", then "c"
        XCTAssertNil(c["b"]); XCTAssertNil(c["c"])
        XCTAssertEqual([c["d"], c["e"], c["f"]], [4, 5, 6])
        for i in 0..<1000 { c.insert(i, for: "k\(i)") }
        XCTAssertEqual(c.count, 3, "never more than capacity")
        XCTAssertEqual([c["k997"], c["k998"], c["k999"]], [997, 998, 999])
        XCTAssertEqual(SpotifyClient.artistCacheCapacity, 2048)
    }

    func testPercentDecodingMatchesFoundation() {
        for s in ["a%2Fb", "plain", "%E6%97%A5%E6%9C%AC", "100%25", "a+b", "%zz", "%4", "%FF", "%C3%A9t%C3%A9", ""] {
            XCTAssertEqual(URLEncoding.percentDecoded(s), s.removingPercentEncoding, s)
        }
        XCTAssertEqual(SpotifyClient.playlistID(inURL: "http://h/v1/playlists/a%20b/items"), "a b")
    }

    func testPercentEncodingMatchesFoundation() {
        var unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
        let every = String(decoding: (0...0x7F).map { UInt8($0) }, as: UTF8.self) + "é日本\u{1F600} /=&%+"
        XCTAssertEqual(URLEncoding.encode(every), every.addingPercentEncoding(withAllowedCharacters: unreserved), "every ASCII byte and some UTF-8")
        unreserved.insert("/")
        XCTAssertEqual(URLEncoding.encode(every, keepSlash: true), every.addingPercentEncoding(withAllowedCharacters: unreserved))
        XCTAssertEqual(URLEncoding.encode("a(b,c)"), "a%28b%2Cc%29")
        XCTAssertEqual(URLEncoding.percentDecoded(URLEncoding.encode(every)), every, "round trip")
    }

    // MARK: Credentials

    func testCredentialsFromEnvironment() throws {
        let c = try SpotifyCredentials.load(environment: [
            "SPOTIFY_CLIENT_ID": "cid", "SPOTIFY_CLIENT_SECRET": "s3cret-value\n",
        ])
        XCTAssertEqual(c, SpotifyCredentials(clientID: "cid", clientSecret: "s3cret-value", refreshToken: nil))
        XCTAssertThrowsError(try SpotifyCredentials.load(environment: ["SPOTIFY_CLIENT_ID": "cid"])) { e in
            XCTAssertEqual(e as? CredentialsError, .missing("SPOTIFY_CLIENT_SECRET"))
        }
    }

    func testCredentialFilesWinOverEnvironment() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "file-secret\n".write(to: dir.appendingPathComponent("SPOTIFY_CLIENT_SECRET"), atomically: true, encoding: .utf8)
        try "file-refresh\r\n".write(to: dir.appendingPathComponent("SPOTIFY_REFRESH_TOKEN"), atomically: true, encoding: .utf8)
        let c = try SpotifyCredentials.load(environment: [
            "CREDENTIALS_DIRECTORY": dir.path, "SPOTIFY_CLIENT_ID": "env-id",
            "SPOTIFY_CLIENT_SECRET": "env-secret", "SPOTIFY_REFRESH_TOKEN": "env-refresh",
        ])
        XCTAssertEqual(c.clientID, "env-id")
        XCTAssertEqual(c.clientSecret, "file-secret")
        XCTAssertEqual(c.refreshToken, "file-refresh")
    }

    func testCredentialsNeverPrintSecrets() {
        let c = SpotifyCredentials(clientID: "visible-id", clientSecret: "hunter2-secret", refreshToken: "rt-very-secret")
        var dumped = ""
        dump(c, to: &dumped)
        for text in [c.description, "\(c)", String(reflecting: c), dumped] {
            XCTAssertTrue(text.contains("visible-id"), text)
            XCTAssertFalse(text.contains("hunter2-secret"), text)
            XCTAssertFalse(text.contains("rt-very-secret"), text)
        }
    }

    func testRefreshTokenExpiredMessage() {
        XCTAssertEqual(SpotifyError.refreshTokenExpired.description,
                       "Spotify refresh token expired or revoked; re-run `spotifyd-etl login`")
    }

    func testNextURLPlaylistID() {
        XCTAssertEqual(SpotifyClient.playlistID(inURL: "http://h/v1/playlists/abc123/items?offset=50"), "abc123")
        XCTAssertNil(SpotifyClient.playlistID(inURL: "http://h/v1/artists/x"))
    }
}
