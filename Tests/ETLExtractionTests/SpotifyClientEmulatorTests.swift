import ETLCore
import ETLHTTP
import Foundation
import Logging
import Synchronization
import XCTest
@testable import ETLExtraction

/// The client against the real emulator over loopback: tokens, 401/429/5xx policies, the
/// shared gate, playlist errors, legacy items fallback, dev-mode artists, PKCE login.
final class SpotifyClientEmulatorTests: XCTestCase {
    var emulator: Emulator!
    let transport = CurlHTTPClient()
    let sleeper = RecordingSleeper()
    var errorsSeen: [String] = []

    override func setUpWithError() throws {
        emulator = try Emulator()
    }

    let logs = CapturedLogs()

    override func tearDown() {
        // Whatever happened in this test, no error description and no log line may carry the
        // client secret, an access token, a refresh token or an authorization code (the
        // emulator prefixes them emu-at-, emu-rt-, emu-code-).
        for text in errorsSeen + logs.lines {
            for secret in [Emulator.clientSecret, "emu-at-", "emu-rt-", "emu-code-", "Bearer ", "Basic "] {
                XCTAssertFalse(text.contains(secret), "leaked \(secret) in: \(text)")
            }
        }
        emulator?.stop()
        emulator = nil
    }

    func credentials(refreshToken: String? = nil, secret: String = Emulator.clientSecret) -> SpotifyCredentials {
        SpotifyCredentials(clientID: Emulator.clientID, clientSecret: secret, refreshToken: refreshToken)
    }

    func tokens(grant: TokenProvider.Grant = .clientCredentials, credentials creds: SpotifyCredentials? = nil,
                clock: ETLCore.Clock = SystemClock(), onRotate: (@Sendable (String) -> Void)? = nil) -> TokenProvider
    {
        TokenProvider(credentials: creds ?? credentials(), grant: grant, accountsURL: emulator.accountsURL,
                      transport: transport, clock: clock, timeout: 10, sleeper: sleeper, logger: logs.logger(),
                      onRefreshTokenRotated: onRotate)
    }

    func client(tokens t: TokenProvider? = nil, gate: RateGate = RateGate(store: InMemoryGateStore()),
                capabilities: CapabilityStore = InMemoryCapabilityStore()) -> SpotifyClient
    {
        SpotifyClient(settings: SpotifyClientSettings(apiURL: emulator.apiURL, accountsURL: emulator.accountsURL, timeout: 10),
                      tokens: t ?? tokens(), gate: gate, transport: transport, capabilities: capabilities,
                      logger: logs.logger(), sleeper: sleeper)
    }

    /// Captures a thrown SpotifyError (and remembers its description for the secret check).
    func spotifyError<T>(_ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line) -> SpotifyError? {
        do {
            _ = try body()
            XCTFail("expected an error", file: file, line: line)
            return nil
        } catch let e as SpotifyError {
            errorsSeen.append(e.description)
            return e
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return nil
        }
    }

    func json(_ data: Data) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    // MARK: Tokens

    func testClientCredentialsTokenCachedAndRefreshedSixtySecondsBeforeExpiry() throws {
        let clock = ManualClock()
        let t = tokens(clock: clock)
        let first = try t.accessToken()
        XCTAssertEqual(try t.accessToken(), first)
        XCTAssertEqual(t.requestCount, 1)
        let expiry = try XCTUnwrap(t.tokenExpiry)
        XCTAssertEqual(expiry.timeIntervalSince(clock.now()), 3600, accuracy: 5)

        clock.advance(expiry.timeIntervalSince(clock.now()) - 61)  // 61 s before expiry: still cached
        XCTAssertEqual(try t.accessToken(), first)
        XCTAssertEqual(t.requestCount, 1)
        clock.advance(2)  // 59 s before expiry: refreshed proactively
        let second = try t.accessToken()
        XCTAssertEqual(t.requestCount, 2)
        XCTAssertEqual(emulator.tokenRequests, 2)
        XCTAssertNotEqual(second, first)
        // The refreshed token works against the API.
        XCTAssertNoThrow(try client(tokens: t).playlistMetadata(try emulator.readablePlaylist()))
    }

    func testConcurrentWorkersShareOneTokenFetch() throws {
        let t = tokens()
        let got = LockedBox<[String]>()
        got.value = []
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            if let token = try? t.accessToken() {
                got.mutate { $0?.append(token) }
            }
        }
        XCTAssertEqual(got.value?.count, 8)
        XCTAssertEqual(Set(got.value ?? []).count, 1)
        XCTAssertEqual(t.requestCount, 1)
        XCTAssertEqual(emulator.tokenRequests, 1)
    }

    func testShortTokenTTLRefreshesBeforeEmulatorRejects() throws {
        emulator.stop()
        emulator = try Emulator(extraArguments: ["--token-ttl", "61"])
        let clock = ManualClock()
        let t = tokens(clock: clock)
        let c = client(tokens: t)
        let id = try emulator.readablePlaylist()
        _ = try c.playlistMetadata(id)
        // A token living less than two refresh margins is refreshed at half its life.
        clock.advance(29)
        _ = try c.playlistMetadata(id)
        XCTAssertEqual(t.requestCount, 1, "still well within its life")
        clock.advance(2)
        _ = try c.playlistMetadata(id)
        XCTAssertEqual(t.requestCount, 2, "token refreshed proactively")
        XCTAssertEqual(c.requestCount, 3, "no 401 round trip was needed")
    }

    func testMalformedTokenResponseIsAClearAuthError() throws {
        try emulator.fault(path: "/api/token", status: 200, body: "<html>not json</html>")
        guard case .authFailed(let m)? = spotifyError({ try tokens().accessToken() }) else { return XCTFail() }
        XCTAssertTrue(m.contains("malformed token response"), m)
        try emulator.fault(path: "/api/token", status: 200, body: #"{"token_type":"Bearer","expires_in":3600}"#)
        guard case .authFailed(let m2)? = spotifyError({ try tokens().accessToken() }) else { return XCTFail() }
        XCTAssertTrue(m2.contains("missing access_token"), m2)
    }

    func testWrongClientSecretIsAuthFailedWithoutTheSecret() throws {
        let t = tokens(credentials: credentials(secret: "wrong-secret-value"))
        guard case .authFailed(let m)? = spotifyError({ try t.accessToken() }) else { return XCTFail() }
        XCTAssertFalse(m.contains("wrong-secret-value"))
        XCTAssertFalse(SpotifyError.authFailed(m).description.contains("wrong-secret-value"))
    }

    func testInvalidGrantIsRefreshTokenExpired() throws {
        let t = tokens(grant: .refreshToken, credentials: credentials(refreshToken: "revoked-refresh-token"))
        let e = spotifyError { try t.accessToken() }
        XCTAssertEqual(e, .refreshTokenExpired)
        // A refused refresh token is not offered again at once: every later poll would send
        // one futile request per playlist.
        for _ in 0..<5 { XCTAssertEqual(spotifyError { try t.accessToken() }, .refreshTokenExpired) }
        XCTAssertEqual(t.requestCount, 1, "one token request for a refused refresh token, not one per poll")
        XCTAssertEqual(e?.description, "Spotify refresh token expired or revoked; re-run `spotifyd-etl login`")
        XCTAssertFalse(e!.description.contains("revoked-refresh-token"))
    }

    // MARK: 401

    func testUnauthorizedMidScanRefreshesOnceAndRetries() throws {
        let t = tokens()
        let c = client(tokens: t)
        let id = try emulator.readablePlaylist()
        _ = try c.itemsPage(id, offset: 0)
        try emulator.fault(path: "/v1/playlists/\(id)/items", status: 401,
                           body: #"{"error":{"status":401,"message":"The access token expired"}}"#)
        let page = try json(c.itemsPage(id, offset: 0))
        XCTAssertNotNil(page["items"])
        XCTAssertEqual(t.requestCount, 2, "exactly one refresh")
        XCTAssertEqual(c.requestCount, 3)

        // A 401 that persists with a fresh token is an auth failure after one refresh only.
        try emulator.fault(path: "/v1/playlists/\(id)/items", status: 401,
                           body: #"{"error":{"status":401,"message":"Invalid access token"}}"#, count: 5)
        guard case .authFailed(let m)? = spotifyError({ try c.itemsPage(id, offset: 0) }) else { return XCTFail() }
        XCTAssertTrue(m.contains("Invalid access token"), m)
        XCTAssertEqual(t.requestCount, 3)
        XCTAssertEqual(c.requestCount, 5)
    }

    // MARK: 429 and the shared gate

    func testRetryAfterSecondsDefersEveryWorkerAndSendsNothingEarly() throws {
        let store = InMemoryGateStore()
        let gate = RateGate(store: store)
        let c = client(gate: gate)
        let other = client(gate: gate)  // a second worker sharing the gate
        let id = try emulator.readablePlaylist()
        _ = try c.playlistMetadata(id)
        try emulator.fault(path: "/v1/playlists/\(id)", status: 429, retryAfter: "2",
                           body: #"{"error":{"status":429,"message":"API rate limit exceeded"}}"#)
        let before = Date()
        guard case .deferred(let until, _, .rateLimited)? = spotifyError({ try c.playlistMetadata(id) }) else { return XCTFail() }
        XCTAssertEqual(until.timeIntervalSince(before), 2, accuracy: 0.5)
        XCTAssertEqual(store.loadGate()?.notBefore, until)
        XCTAssertTrue(logs.lines.contains {
            $0.contains("http_status=429") && $0.contains("retry_after_s=2") && $0.contains("playlist_id=\(id)")
                && $0.contains("error_code=rate_limited")
        }, "\(logs.lines)")

        let sent = c.requestCount + other.requestCount
        let emulatorCount = emulator.totalRequests
        guard case .deferred(let until2, _, .gateClosed)? = spotifyError({ try other.playlistMetadata(id) }) else { return XCTFail() }
        XCTAssertEqual(until2, until)
        guard case .deferred? = spotifyError({ try other.itemsPage(id, offset: 0) }) else { return XCTFail() }
        XCTAssertEqual(c.requestCount + other.requestCount, sent, "nothing sent while the gate is shut")
        XCTAssertEqual(emulator.totalRequests, emulatorCount)

        Thread.sleep(forTimeInterval: max(0, until.timeIntervalSinceNow) + 0.1)
        XCTAssertNoThrow(try other.playlistMetadata(id))
        XCTAssertEqual(emulator.violations, 0)
    }

    func testConcurrentWorkersAllDeferAfterOne429() throws {
        let gate = RateGate(store: InMemoryGateStore())
        let id = try emulator.readablePlaylist()
        let workers = (0..<4).map { _ in client(gate: gate) }
        _ = try workers[0].playlistMetadata(id)
        try emulator.fault(path: "/v1/playlists/\(id)/items", status: 429, retryAfter: "30", count: 1)
        guard case .deferred? = spotifyError({ try workers[0].itemsPage(id, offset: 0) }) else { return XCTFail() }
        // (Requests already in flight when a 429 arrives cannot be recalled; from the moment
        // one worker has seen it, none may send.)
        let before = emulator.totalRequests
        let deferred = LockedBox<Int>()
        deferred.value = 0
        DispatchQueue.concurrentPerform(iterations: 4) { w in
            for _ in 0..<10 {
                do { _ = try workers[w].itemsPage(id, offset: 0) } catch SpotifyError.deferred {
                    deferred.mutate { $0! += 1 }
                } catch {}
            }
        }
        XCTAssertEqual(deferred.value, 40)
        XCTAssertEqual(emulator.totalRequests, before)
        XCTAssertEqual(emulator.violations, 0)
    }

    func testRetryAfterHTTPDate() throws {
        let c = client()
        let id = try emulator.readablePlaylist()
        let target = Date().addingTimeInterval(3)
        try emulator.fault(path: "/v1/playlists/\(id)/items", status: 429,
                           retryAfter: RetryAfter.imfFixdate(target))
        guard case .deferred(let until, _, _)? = spotifyError({ try c.itemsPage(id, offset: 0) }) else { return XCTFail() }
        XCTAssertEqual(until.timeIntervalSince1970, target.timeIntervalSince1970.rounded(.down), accuracy: 1.5)
        guard case .deferred? = spotifyError({ try c.itemsPage(id, offset: 0) }) else { return XCTFail() }
        XCTAssertEqual(c.requestCount, 1)
        XCTAssertEqual(emulator.violations, 0)
    }

    func testQuotaExceededParksTheAppForAnHourAcrossRestart() throws {
        let store = InMemoryGateStore()
        let c = client(gate: RateGate(store: store))
        let id = try emulator.readablePlaylist()
        try emulator.fault(path: "/v1/playlists/\(id)", status: 429, retryAfter: "1",
                           body: #"{"error":{"status":429,"message":"Quota exceeded","reason":"QUOTA_EXCEEDED"}}"#)
        let before = Date()
        guard case .deferred(let until, let reason, let cause)? = spotifyError({ try c.playlistMetadata(id) }) else { return XCTFail() }
        XCTAssertGreaterThanOrEqual(until.timeIntervalSince(before), 3600)
        XCTAssertEqual(cause, .quotaExceeded)
        XCTAssertTrue(reason.contains("QUOTA_EXCEEDED"), "the operator's text names the API's reason")
        XCTAssertTrue(logs.lines.contains { $0.contains("http_status=429") && $0.contains("error_code=quota_exceeded") },
                      "\(logs.lines)")

        // "Restart": a new gate and client over the same store send nothing, and the park
        // read back is still a quota park.
        let restartedGate = RateGate(store: store)
        XCTAssertEqual(restartedGate.state()?.cause, .quotaExceeded)
        let restarted = client(gate: restartedGate)
        Thread.sleep(forTimeInterval: 1.2)  // past the header's 1 s, still inside the hour
        guard case .deferred(let until2, _, .gateClosed)? = spotifyError({ try restarted.playlistMetadata(id) }) else { return XCTFail() }
        XCTAssertEqual(until2, until)
        XCTAssertEqual(restarted.requestCount, 0)
        XCTAssertEqual(emulator.violations, 0)
    }

    func testQuotaTextInANonJSONBodyIsAnOrdinaryRateLimit() throws {
        let store = InMemoryGateStore()
        let c = client(gate: RateGate(store: store))
        let id = try emulator.readablePlaylist()
        // A proxy's page that merely mentions the word: only the JSON `reason` field counts.
        try emulator.fault(path: "/v1/playlists/\(id)", status: 429, retryAfter: "2",
                           body: "<html><body>Too many requests (not QUOTA_EXCEEDED)</body></html>")
        let before = Date()
        guard case .deferred(let until, _, let cause)? = spotifyError({ try c.playlistMetadata(id) }) else { return XCTFail() }
        XCTAssertEqual(cause, .rateLimited)
        XCTAssertEqual(until.timeIntervalSince(before), 2, accuracy: 0.5)
        XCTAssertEqual(store.loadGate()?.cause, .rateLimited)
        XCTAssertTrue(logs.lines.contains { $0.contains("http_status=429") && $0.contains("error_code=rate_limited") },
                      "\(logs.lines)")
    }

    // MARK: 5xx

    func testServerErrorsRetriedThenSuccess() throws {
        let c = client()
        let id = try emulator.readablePlaylist()
        try emulator.fault(path: "/v1/playlists/\(id)", status: 503, count: 3)
        try emulator.fault(path: "/v1/playlists/\(id)", status: 502, count: 1)
        let meta = try json(c.playlistMetadata(id))
        XCTAssertEqual(meta["id"] as? String, id)
        XCTAssertEqual(c.requestCount, 5)
        XCTAssertEqual(sleeper.sleeps.count, 4)
        XCTAssertTrue(sleeper.sleeps.allSatisfy { $0 > 0 && $0 <= 2 }, "\(sleeper.sleeps)")
        XCTAssertLessThan(sleeper.sleeps[0], sleeper.sleeps[3])
    }

    func testServiceUnavailableWithLongRetryAfterDefersInsteadOfSleeping() throws {
        let c = client()
        let id = try emulator.readablePlaylist()
        try emulator.fault(path: "/v1/playlists/\(id)", status: 503, retryAfter: "120")
        let before = Date()
        guard case .deferred(let until, _, .serviceUnavailable)? = spotifyError({ try c.playlistMetadata(id) }) else { return XCTFail() }
        XCTAssertEqual(until.timeIntervalSince(before), 120, accuracy: 2)
        XCTAssertTrue(sleeper.sleeps.isEmpty, "a long wait is never slept")
    }

    func testServerErrorsExhaustAfterFiveAttempts() throws {
        let c = client()
        let id = try emulator.readablePlaylist()
        try emulator.fault(path: "/v1/playlists/\(id)/items", status: 500, count: 6)
        guard case .retriesExhausted(let request, let attempts, let last)? = spotifyError({ try c.itemsPage(id, offset: 0) })
        else { return XCTFail() }
        guard case .status(500, _) = last else { return XCTFail("\(last)") }
        XCTAssertEqual(attempts, 5)
        XCTAssertTrue(request.hasPrefix("GET /playlists/\(id)/items"), request)
        XCTAssertEqual(c.requestCount, 5)
        XCTAssertEqual(sleeper.sleeps.count, 4)
    }

    func testTruncatedBodyAndTimeoutAreRetriedTransportFailures() throws {
        let c = client()
        let id = try emulator.readablePlaylist()
        // Half a body with the full Content-Length, then the connection closes.
        try emulator.fault(path: "/v1/playlists/\(id)/items", status: 200, count: 2, truncate: true)
        let page = try json(c.itemsPage(id, offset: 0))
        XCTAssertEqual((page["total"] as? NSNumber)?.intValue, 4)
        XCTAssertEqual(c.requestCount, 3)
        XCTAssertEqual(sleeper.sleeps.count, 2)

        // A wedged peer: the per-request timeout turns it into a retried transport error.
        let slow = SpotifyClient(settings: SpotifyClientSettings(apiURL: emulator.apiURL, timeout: 0.5), tokens: tokens(),
                                 gate: RateGate(), transport: transport, capabilities: InMemoryCapabilityStore(),
                                 logger: logs.logger(), sleeper: sleeper)
        try emulator.fault(path: "/v1/playlists/\(id)", status: 0, count: 1, delayMS: 1500)
        let meta = try json(slow.playlistMetadata(id))
        XCTAssertEqual(meta["id"] as? String, id)
        XCTAssertEqual(slow.requestCount, 2)
    }

    func testTransportErrorsExhaustAfterFiveAttempts() throws {
        let port = emulator.port
        emulator.stop()  // nothing listens any more: connection refused
        let settings = SpotifyClientSettings(apiURL: "http://127.0.0.1:\(port)/v1", timeout: 2)
        let t = TokenProvider(credentials: credentials(), grant: .clientCredentials,
                              accountsURL: "http://127.0.0.1:\(port)", transport: transport, timeout: 2, sleeper: sleeper,
                              logger: logs.logger())
        let c = SpotifyClient(settings: settings, tokens: t, gate: RateGate(), transport: transport,
                              capabilities: InMemoryCapabilityStore(), logger: logs.logger(), sleeper: sleeper)
        guard case .retriesExhausted(_, let attempts, .transport(_, _, isTimeout: false))? =
                spotifyError({ try c.playlistMetadata("x") })
        else { return XCTFail() }
        XCTAssertEqual(attempts, 5)
        XCTAssertEqual(t.requestCount, 5)
    }

    // MARK: Bodies and playlist errors

    func testMalformedBodyIsReturnedAsIs() throws {
        let c = client()
        let id = try emulator.readablePlaylist()
        let garbage = #"{"items": [ {"item": nul"#
        try emulator.fault(path: "/v1/playlists/\(id)/items", status: 200, body: garbage)
        XCTAssertEqual(String(decoding: try c.itemsPage(id, offset: 0), as: UTF8.self), garbage)
    }

    func testPlaylistErrorsCarryTheAPIMessage() throws {
        let c = client()
        guard case .playlistUnavailable(let s, let m)? = spotifyError({ try c.playlistMetadata(try emulator.notFoundPlaylist()) })
        else { return XCTFail() }
        XCTAssertEqual(s, 404)
        XCTAssertEqual(m, "Resource not found")
        // Development mode: not-owned playlist's items are forbidden, its metadata is not.
        let foreign = try emulator.restrictedPlaylist()
        XCTAssertNoThrow(try c.playlistMetadata(foreign))
        guard case .playlistUnavailable(403, let m2)? = spotifyError({ try c.itemsPage(foreign, offset: 0) })
        else { return XCTFail() }
        XCTAssertEqual(m2, "Forbidden")
        let id = try emulator.readablePlaylist()
        try emulator.fault(path: "/v1/playlists/\(id)/items", status: 403,
                           body: #"{"error":{"status":403,"message":"Forbidden: not owner in development mode"}}"#)
        guard case .playlistUnavailable(403, let m3)? = spotifyError({ try c.itemsPage(id, offset: 0) })
        else { return XCTFail() }
        XCTAssertEqual(m3, "Forbidden: not owner in development mode")
    }

    func testPagingFollowsNextAndRefusesForeignHosts() throws {
        let c = client()
        let id = try emulator.createPlaylist(items: 120)
        var page = try json(c.itemsPage(id, offset: 0))
        var seen = (page["items"] as? [Any])?.count ?? 0
        var pages = 1
        while let next = page["next"] as? String {
            page = try json(c.itemsPage(url: next))
            seen += (page["items"] as? [Any])?.count ?? 0
            pages += 1
        }
        XCTAssertEqual(seen, 120)
        XCTAssertEqual(pages, 3, "limit=50 pages")
        guard case .malformed? = spotifyError({ try c.itemsPage(url: "http://evil.example/v1/playlists/x/items") })
        else { return XCTFail() }
    }

    // MARK: Legacy items endpoint

    func testDevModeForbiddenPlaylistDoesNotFlipToLegacy() throws {
        let caps = InMemoryCapabilityStore()
        let c = client(capabilities: caps)
        let foreign = try emulator.restrictedPlaylist()
        guard case .playlistUnavailable(403, _)? = spotifyError({ try c.itemsPage(foreign, offset: 0) }) else { return XCTFail() }
        XCTAssertNil(caps.get(Capability.itemsEndpoint))
        XCTAssertEqual(emulator.routeCount("tracks_legacy"), 0)
        _ = try c.itemsPage(try emulator.readablePlaylist(), offset: 0)
        XCTAssertEqual(caps.get(Capability.itemsEndpoint), Capability.itemsModern)
        // Once /items is known to work, a 404 is a playlist error, never a reason to probe.
        guard case .playlistUnavailable(404, _)? = spotifyError({ try c.itemsPage(try emulator.notFoundPlaylist(), offset: 0) })
        else { return XCTFail() }
        XCTAssertEqual(emulator.routeCount("tracks_legacy"), 0)
    }

    func testItemsRouteMissingFallsBackToLegacyAndIsRemembered() throws {
        let caps = InMemoryCapabilityStore()
        let c = client(capabilities: caps)
        let id = try emulator.readablePlaylist()
        try emulator.fault(path: "/v1/playlists/\(id)/items", status: 404,
                           body: #"{"error":{"status":404,"message":"Service not found"}}"#)
        let page = try json(c.itemsPage(id, offset: 0))
        XCTAssertFalse(try XCTUnwrap(page["items"] as? [Any]).isEmpty)
        XCTAssertEqual(caps.get(Capability.itemsEndpoint), Capability.itemsLegacy)
        let itemsBefore = emulator.routeCount("items")
        _ = try c.itemsPage(id, offset: 0)
        XCTAssertEqual(emulator.routeCount("items"), itemsBefore, "legacy remembered")
        XCTAssertEqual(emulator.routeCount("tracks_legacy"), 2)
    }

    func testMissingPlaylistDoesNotFlipToLegacy() throws {
        let caps = InMemoryCapabilityStore()
        let c = client(capabilities: caps)
        guard case .playlistUnavailable(404, _)? = spotifyError({ try c.itemsPage(try emulator.notFoundPlaylist(), offset: 0) })
        else { return XCTFail() }
        XCTAssertNil(caps.get(Capability.itemsEndpoint))
        XCTAssertEqual(emulator.routeCount("tracks_legacy"), 0, "metadata 404 stops the probe")
    }

    // MARK: Artists

    func testArtistsBatchAndCache() throws {
        let caps = InMemoryCapabilityStore()
        let c = client(capabilities: caps)
        let ids = try emulator.artistIDs()
        XCTAssertGreaterThanOrEqual(ids.count, 3)
        let got = try c.artists(ids + [ids[0]])
        XCTAssertEqual(got.count, ids.count)
        for id in ids { XCTAssertEqual(try json(XCTUnwrap(got[id] ?? nil))["id"] as? String, id) }
        XCTAssertEqual(emulator.routeCount("artists_batch"), 1)
        XCTAssertNil(caps.get(Capability.artistsBatch))
        let sent = c.requestCount
        _ = try c.artists(ids)
        XCTAssertEqual(c.requestCount, sent, "cached: nothing fetched twice")
    }

    func testDevModeArtistsBatchForbiddenFallsBackPerIDRememberedAndCached() throws {
        emulator.stop()
        emulator = try Emulator(extraArguments: ["--dev-mode"])
        let caps = InMemoryCapabilityStore()
        let c = client(capabilities: caps)
        let ids = try emulator.artistIDs()
        let first = try c.artists(Array(ids.prefix(2)))
        XCTAssertEqual(caps.get(Capability.artistsBatch), Capability.forbidden)
        for id in ids.prefix(2) { XCTAssertEqual(try json(XCTUnwrap(first[id] ?? nil))["id"] as? String, id) }
        XCTAssertEqual(emulator.routeCount("artists_batch"), 1)
        XCTAssertEqual(emulator.routeCount("artist"), 2)

        // Remembered: no second batch attempt; cached ids are not fetched again.
        let all = try c.artists(ids)
        for id in ids { XCTAssertEqual(try json(XCTUnwrap(all[id] ?? nil))["id"] as? String, id) }
        XCTAssertEqual(emulator.routeCount("artists_batch"), 1)
        XCTAssertEqual(emulator.routeCount("artist"), ids.count)

        // A failure is nil (retried on a later poll) and is not cached.
        let unknown = "0000000000000000000000"
        let r = try c.artists([unknown])
        XCTAssertEqual(r.count, 1)
        XCTAssertNil(r[unknown] ?? nil)
        _ = try c.artists([unknown])
        XCTAssertEqual(emulator.routeCount("artist"), ids.count + 2)
    }

    func testConcurrentWorkersFetchEachArtistOnce() throws {
        emulator.stop()
        emulator = try Emulator(extraArguments: ["--dev-mode"])
        let c = client()
        let ids = try emulator.artistIDs()
        let complete = LockedBox<Int>()
        complete.value = 0
        DispatchQueue.concurrentPerform(iterations: 4) { w in
            // Overlapping, differently ordered requests from four workers.
            let mine = w % 2 == 0 ? ids : ids.reversed()
            if let r = try? c.artists(mine), r.values.allSatisfy({ $0 != nil }), r.count == ids.count {
                complete.mutate { $0! += 1 }
            }
        }
        XCTAssertEqual(complete.value, 4, "every worker got every artist")
        XCTAssertEqual(emulator.routeCount("artist"), ids.count, "no artist fetched twice")
    }

    // MARK: Refresh-token grant and PKCE login

    func testPKCELoginEndToEndThenRefreshGrantWithRotation() throws {
        let flow = LoginFlow(credentials: credentials(), accountsURL: emulator.accountsURL, transport: transport, port: 0)
        let session = try flow.start()
        XCTAssertTrue(session.authorizeURL.contains("code_challenge_method=S256"))
        XCTAssertTrue(session.authorizeURL.contains("scope=playlist-read-private%20playlist-read-collaborative"))

        let result = LockedBox<Result<String, Error>>()
        let done = expectation(description: "login completed")
        Thread.detachNewThread {
            result.value = Result { try session.complete(waitSeconds: 20) }
            done.fulfill()
        }
        // Play the browser: the authorize endpoint redirects to our loopback callback.
        let authorize = try transport.send(HTTPRequest(url: session.authorizeURL, timeout: 10))
        XCTAssertEqual(authorize.status, 302)
        let location = try XCTUnwrap(authorize.header("location"))
        XCTAssertTrue(location.hasPrefix(session.redirectURI), location)
        let page = try transport.send(HTTPRequest(url: location, timeout: 10))
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(String(decoding: page.body, as: UTF8.self).contains("Login complete"))
        wait(for: [done], timeout: 30)
        let refresh = try XCTUnwrap(result.value).get()
        XCTAssertFalse(refresh.isEmpty)

        // The refresh token works with the refresh-token grant; a rotated one is reported.
        let rotated = LockedBox<String>()
        let t = tokens(grant: .refreshToken, credentials: credentials(refreshToken: refresh)) { rotated.value = $0 }
        let c = client(tokens: t)
        XCTAssertNoThrow(try c.playlistMetadata(try emulator.readablePlaylist()))
        XCTAssertNil(rotated.value)

        // Revocation (or the six-month expiry) surfaces as refreshTokenExpired.
        try emulator.control("POST", "/tokens", json: ["expire_access": true, "revoke_refresh": true])
        let e = spotifyError { try c.playlistMetadata(try emulator.readablePlaylist()) }
        XCTAssertEqual(e, .refreshTokenExpired)
    }

    func testRotatedRefreshTokenIsReportedForPersistence() throws {
        let rotated = LockedBox<String>()
        let t = tokens(grant: .refreshToken, credentials: credentials(refreshToken: "old-refresh-token")) { rotated.value = $0 }
        try emulator.fault(path: "/api/token", status: 200,
                           body: #"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"new-refresh-token"}"#)
        XCTAssertEqual(try t.accessToken(), "at-1")
        XCTAssertEqual(rotated.value, "new-refresh-token")
        XCTAssertEqual(t.currentRefreshToken, "new-refresh-token")
    }

    // The login's state check: LoginCallbackTests.
}

final class LockedBox<T: Sendable>: Sendable {
    private let stored = Guarded<T?>(nil)
    var value: T? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
    func mutate(_ f: (inout T?) -> Void) { stored.withLock { f(&$0) } }
}
