import ETLCore
import ETLHTTP
import ETLSink
import ETLTestSupport
import Foundation
import Synchronization
import XCTest
@testable import ETLDaemon

/// The text pieces of log messages: numbers, sizes, user text.
final class LogTextTests: XCTestCase {
    func testCountsGetThousandsSeparators() {
        XCTAssertEqual([0, 7, 999, 1000, 1204, 12345, 999_999, 1_000_000, 1_234_567_890].map(LogText.count),
                       ["0", "7", "999", "1,000", "1,204", "12,345", "999,999", "1,000,000", "1,234,567,890"])
        XCTAssertEqual(LogText.count(-1234), "-1,234")
        XCTAssertEqual(LogText.count(Int.min), "-9,223,372,036,854,775,808")
    }

    func testCountedNouns() {
        XCTAssertEqual(LogText.counted(1, "row"), "1 row")
        XCTAssertEqual(LogText.counted(0, "row"), "0 rows")
        XCTAssertEqual(LogText.counted(1204, "row"), "1,204 rows")
        XCTAssertEqual(LogText.counted(2, "batch", plural: "batches"), "2 batches")
    }

    func testHumanSizes() {
        XCTAssertEqual(LogText.bytes(0), "0 B")
        XCTAssertEqual(LogText.bytes(1023), "1023 B")
        XCTAssertEqual(LogText.bytes(1024), "1.0 KB")
        XCTAssertEqual(LogText.bytes(1229), "1.2 KB")
        XCTAssertEqual(LogText.bytes(10188), "9.9 KB")
        XCTAssertEqual(LogText.bytes(10240), "10 KB")
        XCTAssertEqual(LogText.bytes(90_112), "88 KB")
        XCTAssertEqual(LogText.bytes(1_048_000), "1,023 KB")
        XCTAssertEqual(LogText.bytes(1_048_500), "1.0 MB", "rounds up into the next unit, never 1,024 KB")
        XCTAssertEqual(LogText.bytes(3_565_158), "3.4 MB")
        XCTAssertEqual(LogText.bytes(8 << 20), "8.0 MB")
        XCTAssertEqual(LogText.bytes(150 << 20), "150 MB")
        XCTAssertEqual(LogText.bytes(5 << 30), "5.0 GB")
        XCTAssertEqual(LogText.bytes(2048 << 40), "2,048 TB")
    }

    func testEscapingKeepsTextButNotControls() {
        XCTAssertEqual(LogText.escaped("Today's Top Hits"), "Today's Top Hits")
        XCTAssertEqual(LogText.escaped("🎧 夜の音楽 Café مزيج"), "🎧 夜の音楽 Café مزيج")
        XCTAssertEqual(LogText.escaped("a\nb\rc\td"), "a\\nb\\rc\\td")
        XCTAssertEqual(LogText.escaped("\u{1B}[31mred\u{7}\u{0}"), "\\u{1B}[31mred\\u{7}\\u{0}")
        XCTAssertEqual(LogText.escaped("x\u{85}y\u{2028}z\u{202E}w\u{2066}"), "x\\u{85}y\\u{2028}z\\u{202E}w\\u{2066}")
        XCTAssertEqual(LogText.escaped("say \"hi\" \\o/"), "say \"hi\" \\o/", "quotes are the quoted form's business")
    }

    func testQuotedUserText() {
        XCTAssertEqual(LogText.quoted("Today's Top Hits"), "\"Today's Top Hits\"")
        XCTAssertEqual(LogText.quoted("say \"hi\"\n\\o/"), "\"say \\\"hi\\\"\\n\\\\o/\"")
        XCTAssertEqual(LogText.quoted(""), "\"\"")
        // A name cannot forge a second journal line or a fake end of the quote.
        let forged = LogText.quoted("x\"\n<3>error snapshot committed: playlist evil")
        XCTAssertFalse(forged.contains("\n"))
        XCTAssertEqual(forged, "\"x\\\"\\n<3>error snapshot committed: playlist evil\"")
    }
}

/// The messages the poller and the flusher log: each names its playlist or object.
final class JournalMessageFormatTests: XCTestCase {
    let at = Date(timeIntervalSince1970: 1_780_000_000)
    let id = "37i9dQZF1DXcBWIGoYBM5M"

    func testPollOutcomeMessages() {
        XCTAssertEqual(PlaylistPoller.message(.changed(rows: 15, rejects: 0, added: 12, removed: 3), playlistID: id,
                                              name: "Today's Top Hits", at: at),
                       "snapshot committed: playlist 37i9dQZF1DXcBWIGoYBM5M \"Today's Top Hits\": +12 \u{2212}3, 15 rows")
        XCTAssertEqual(PlaylistPoller.message(.changed(rows: 12_345, rejects: 2, added: 10_000, removed: 1_500),
                                              playlistID: id, name: "Bad\nName\u{1B}", at: at),
                       "snapshot committed: playlist 37i9dQZF1DXcBWIGoYBM5M \"Bad\\nName\\u{1B}\": +10,000 \u{2212}1,500, 12,345 rows, 2 rejected")
        XCTAssertEqual(PlaylistPoller.message(.changed(rows: 1, rejects: 0, added: 0, removed: 0), playlistID: id, name: "Empty", at: at),
                       "snapshot committed: playlist 37i9dQZF1DXcBWIGoYBM5M \"Empty\": +0 \u{2212}0, 1 row")
        XCTAssertEqual(PlaylistPoller.message(.unchanged, playlistID: id, name: "Mix", at: at),
                       "unchanged: playlist 37i9dQZF1DXcBWIGoYBM5M \"Mix\"")
        XCTAssertEqual(PlaylistPoller.message(.deferred(until: at.addingTimeInterval(31), reason: "rate limited (Retry-After 31 s)",
                                                        cause: .rateLimited), playlistID: id, name: nil, at: at),
                       "deferred: playlist 37i9dQZF1DXcBWIGoYBM5M until \(Timestamp.iso(at.addingTimeInterval(31))) (in 31s): rate limited (Retry-After 31 s)")
        XCTAssertEqual(PlaylistPoller.message(.deferred(until: at.addingTimeInterval(3700), reason: "quota", cause: .quotaExceeded),
                                              playlistID: id, name: "Mix", at: at),
                       "deferred: playlist 37i9dQZF1DXcBWIGoYBM5M \"Mix\" until \(Timestamp.iso(at.addingTimeInterval(3700))) (in 1h1m): quota")
        XCTAssertEqual(PlaylistPoller.message(.unavailable(status: 404, message: "Resource not found"), playlistID: id, name: nil, at: at),
                       "playlist unavailable: playlist 37i9dQZF1DXcBWIGoYBM5M: HTTP 404: Resource not found")
        XCTAssertEqual(PlaylistPoller.message(.failed(.httpStatus(500, message: "boom")), playlistID: id, name: "Mix", at: at),
                       "poll failed: playlist 37i9dQZF1DXcBWIGoYBM5M \"Mix\": HTTP 500 from Spotify: boom")
        XCTAssertTrue(PlaylistPoller.message(.failed(.authExpired), playlistID: id, name: nil, at: at)
            .hasPrefix("poll failed: playlist 37i9dQZF1DXcBWIGoYBM5M: "))
    }

    func testFlusherMessages() {
        XCTAssertEqual(Flusher.uploadedMessage(key: "playlist_items/dt=2026-12-02/playlist_items-000000000042.ndjson.gz",
                                               rows: 1204, bytes: 90_112),
                       "batch uploaded: playlist_items/dt=2026-12-02/playlist_items-000000000042.ndjson.gz, 1,204 rows, 88 KB")
        let f = SinkError(kind: .needsOperator, code: "AccessDenied", message: "PUT s3://b/k: Access Denied", requestID: "R1")
        XCTAssertEqual(Flusher.failureMessage(f, key: "tracks/dt=2026-12-02/tracks-000000000007.ndjson.gz"),
                       "upload failed: tracks/dt=2026-12-02/tracks-000000000007.ndjson.gz: AccessDenied: PUT s3://b/k: Access Denied (request id R1)")
        XCTAssertEqual(Flusher.failureMessage(SinkError(kind: .transient, code: "STATE_STORAGE", message: "disk full"), key: nil),
                       "upload failed: STATE_STORAGE: disk full")
    }
}

/// The debug line of one HTTP request: never a header, a body or a secret query value.
final class RequestLogTests: XCTestCase {
    func testSafePathDropsHostAndRedactsSensitiveQueryValues() {
        XCTAssertEqual(HTTPRequestLogEntry.safePath("https://api.spotify.com/v1/playlists/abc/items?limit=50&offset=100"),
                       "/v1/playlists/abc/items?limit=50&offset=100")
        XCTAssertEqual(HTTPRequestLogEntry.safePath("https://accounts.spotify.com/api/token"), "/api/token")
        XCTAssertEqual(HTTPRequestLogEntry.safePath("http://127.0.0.1:9000/b/spotify/tracks/dt%3D2026-12-02/tracks-000000000003.ndjson.gz?partNumber=1"),
                       "/b/spotify/tracks/dt=2026-12-02/tracks-000000000003.ndjson.gz?partNumber=1")
        let long = String(repeating: "x", count: 65), short = String(repeating: "y", count: 64)
        XCTAssertEqual(HTTPRequestLogEntry.safePath("http://h/v1/p?fields=\(long)&market=\(short)&offset=0"),
                       "/v1/p?fields=…&market=\(short)&offset=0")
        XCTAssertEqual(HTTPRequestLogEntry.safePath("http://user:pw@127.0.0.1:9000"), "/")
        XCTAssertEqual(HTTPRequestLogEntry.safePath("https://b.s3.amazonaws.com/k?uploadId=U1&partNumber=2&X-Amz-Signature=abc&X-Amz-Credential=AKIA%2F1&X-Amz-Security-Token=tok"),
                       "/k?uploadId=U1&partNumber=2&X-Amz-Signature=[REDACTED]&X-Amz-Credential=[REDACTED]&X-Amz-Security-Token=[REDACTED]")
        XCTAssertEqual(HTTPRequestLogEntry.safePath("http://h/cb?code=emu-code-1&state=s1&access_token=t&client_secret=c&my_token=x&flag#frag"),
                       "/cb?code=[REDACTED]&state=[REDACTED]&access_token=[REDACTED]&client_secret=[REDACTED]&my_token=[REDACTED]&flag")
    }

    func testMessageAndFields() {
        let e = HTTPRequestLogEntry(service: "s3", method: "PUT", path: "/bucket/tracks/x.ndjson.gz", status: 200,
                                    bytesSent: 90_112, bytesReceived: 0, milliseconds: 1234)
        XCTAssertEqual(e.message, "s3 PUT /bucket/tracks/x.ndjson.gz: HTTP 200, 88 KB sent, 0 B received, 1,234 ms")
        XCTAssertEqual(e.fields["http_status"], "200")
        XCTAssertEqual(e.fields["bytes_sent"], "90112")
        let failed = HTTPRequestLogEntry(service: "spotify", method: "GET", path: "/v1/me", status: nil,
                                         failure: "transport error 7: Couldn't connect to server",
                                         bytesSent: 0, bytesReceived: 0, milliseconds: 3)
        XCTAssertEqual(failed.message, "spotify GET /v1/me: no response (transport error 7: Couldn't connect to server), 0 B sent, 0 B received, 3 ms")
        XCTAssertNil(failed.fields["http_status"])
    }

    func testWrapperReportsEveryRequestWithoutHeadersOrBody() throws {
        struct Timeout: Error, CustomStringConvertible { var description: String { "transport error 28: Timeout was reached" } }
        struct Fixed: HTTPTransport {
            func send(_ request: HTTPRequest) throws -> HTTPResponse {
                if request.url.contains("fail") { throw Timeout() }
                return HTTPResponse(status: 201, headers: [("x-amz-request-id", "R")], body: Data(repeating: 1, count: 2048))
            }
        }
        let seen = Guarded<[HTTPRequestLogEntry]>([])
        let t = RequestLoggingTransport(Fixed(), service: "token") { e in seen.withLock { $0.append(e) } }
        let r = try t.send(HTTPRequest(method: "POST", url: "http://127.0.0.1:1/api/token?code=sekrit-code",
                                       headers: [("Authorization", "Basic c2VrcmV0")],
                                       body: Data("grant_type=refresh_token&refresh_token=sekrit-rt".utf8)))
        XCTAssertEqual(r.status, 201)
        XCTAssertThrowsError(try t.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:1/fail")))
        let entries = seen.withLock { $0 }
        XCTAssertEqual(entries.count, 2)
        XCTAssertEqual(entries[0].path, "/api/token?code=[REDACTED]")
        XCTAssertEqual(entries[0].status, 201)
        XCTAssertEqual(entries[0].bytesSent, 48)
        XCTAssertEqual(entries[0].bytesReceived, 2048)
        XCTAssertTrue(entries[0].message.hasPrefix("token POST /api/token?code=[REDACTED]: HTTP 201, 48 B sent, 2.0 KB received, "))
        XCTAssertNil(entries[1].status)
        XCTAssertEqual(entries[1].failure, "transport error 28: Timeout was reached")
        let text = entries.map { "\($0.message) \($0.fields)" }.joined()
        for secret in ["sekrit", "Basic", "c2VrcmV0", "Authorization"] { XCTAssertFalse(text.contains(secret), secret) }
    }
}

/// `run --once --log-level debug` against the emulator: the journal a person reads.
final class JournalMessageEndToEndTests: XCTestCase {
    func testOnceAtDebugLogsSelfContainedMessagesAndRequestsWithoutSecrets() throws {
        let h = try Harness(.init(scenario: "small"))
        let truth = try h.emulator.truth()["playlists"] as! [[String: Any]]
        let basic = truth.first { ($0["name"] as! String).contains("Basic Mix") }!
        let basicID = basic["id"] as! String
        // A name with a newline and an escape sequence: it must not break or colour the line.
        _ = try h.emulator.mutate(basicID, [["op": "rename", "name": "Mix \"One\"\n\u{1B}[31mred"]])

        let r = try h.run(["run", "--once", "--config", h.configURL.path, "--max-wait", "20", "--log-level", "debug"])
        XCTAssertEqual(r.status, 1, "403/404 playlists in the small scenario: \(r.stdout)\n\(r.stderr.suffix(3000))")
        let lines = r.stderr.split(separator: "\n").map(String.init)

        // snapshot committed: playlist <id> "<name>": +N −M, K rows
        let committed = lines.filter { $0.contains("snapshot committed: playlist ") }
        XCTAssertFalse(committed.isEmpty, r.stderr.suffix(3000).description)
        let pattern = #"^<6>info snapshot committed: playlist [0-9A-Za-z]+ ".*": \+[0-9,]+ \x{2212}[0-9,]+, [0-9,]+ rows?(, [0-9,]+ rejected)?( |$)"#
        for line in committed {
            XCTAssertNotNil(line.range(of: pattern, options: .regularExpression), line)
        }
        XCTAssertTrue(committed.contains { $0.contains("snapshot committed: playlist \(basicID) \"Mix \\\"One\\\"\\n\\u{1B}[31mred\": +") },
                      committed.joined(separator: "\n"))
        XCTAssertFalse(r.stderr.contains("\u{1B}"), "a control character from a playlist name reached the log")
        XCTAssertTrue(lines.contains { $0.contains("playlist unavailable: playlist 37i9dQZF1DXcBWIGoYBM5M: HTTP 404: ") },
                      r.stderr.suffix(3000).description)

        // batch uploaded: <key>, N rows, <size>
        let uploaded = lines.filter { $0.contains("batch uploaded: ") }
        XCTAssertFalse(uploaded.isEmpty)
        let uploadPattern = #"batch uploaded: [a-z_]+/dt=[0-9-]+/[a-z_]+-[0-9]{12}\.ndjson\.gz, [0-9,]+ rows?, [0-9.,]+ (B|KB|MB)( |$)"#
        for line in uploaded { XCTAssertNotNil(line.range(of: uploadPattern, options: .regularExpression), line) }

        // Debug request lines: service, method, path, status, bytes, ms.
        let requestPattern = #"^<7>debug (spotify|token) (GET|POST) /[^ ]*: HTTP [0-9]{3}, [0-9.,]+ (B|KB|MB) sent, [0-9.,]+ (B|KB|MB) received, [0-9,]+ ms"#
        let requests = lines.filter { $0.range(of: requestPattern, options: .regularExpression) != nil }
        XCTAssertTrue(requests.contains { $0.contains("token POST /api/token: HTTP 200") }, requests.prefix(5).joined(separator: "\n"))
        XCTAssertTrue(requests.contains { $0.contains("spotify GET /v1/playlists/\(basicID)?") && $0.contains("playlist_id=\(basicID)") },
                      requests.prefix(5).joined(separator: "\n"))
        // Basic Mix's one request carried its items; the playlist the app may not read is asked
        // for its /items page, which answers 403.
        XCTAssertFalse(requests.contains { $0.contains("spotify GET /v1/playlists/\(basicID)/items?") })
        let foreignID = truth.first { ($0["name"] as! String).contains("Someone Else") }!["id"] as! String
        XCTAssertTrue(requests.contains { $0.contains("spotify GET /v1/playlists/\(foreignID)/items?") && $0.contains(": HTTP 403,") },
                      requests.joined(separator: "\n"))
        XCTAssertTrue(requests.contains { $0.contains(": HTTP 404,") })

        // No credential in any form.
        let basicAuth = Data("\(h.emulator.options.clientID):\(h.emulator.options.clientSecret)".utf8).base64EncodedString()
        for secret in ["Authorization", "authorization", "Bearer", "emu-at-", "emu-rt-", "access_token", "refresh_token",
                       h.emulator.options.clientSecret, basicAuth, "[REDACTED]"] {
            XCTAssertFalse(r.stderr.contains(secret), "stderr contains \(secret)")
        }

        // The flag wins over the environment; the environment alone sets the level.
        var env = h.environment
        env["SPOTIFYD_ETL_LOG_LEVEL"] = "debug"
        let quiet = try h.run(["run", "--once", "--config", h.configURL.path, "--max-wait", "20", "--log-level", "info"], env: env)
        XCTAssertEqual(quiet.status, 1, quiet.stdout)
        XCTAssertFalse(quiet.stderr.contains("<7>debug"), quiet.stderr.suffix(2000).description)
        let loud = try h.run(["run", "--once", "--config", h.configURL.path, "--max-wait", "20"], env: env)
        XCTAssertEqual(loud.status, 1, loud.stdout)
        XCTAssertTrue(loud.stderr.contains("<7>debug unchanged: playlist \(basicID) \"Mix \\\"One\\\"\\n\\u{1B}[31mred\""),
                      loud.stderr.suffix(2000).description)
        XCTAssertTrue(loud.stderr.contains("<7>debug spotify GET /v1/playlists/"), loud.stderr.suffix(2000).description)
    }

    func testInvalidLogLevelIsAUsageErrorAndAnInvalidEnvironmentValueAConfigError() throws {
        let h = try Harness(.init(scenario: "small"))
        let bad = try h.run(["run", "--once", "--config", h.configURL.path, "--log-level", "verbose"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("'debug', 'info', 'notice', 'warning' or 'error'"), bad.stderr)

        var env = h.environment
        env["SPOTIFYD_ETL_LOG_LEVEL"] = "loud"
        let badEnv = try h.run(["run", "--once", "--config", h.configURL.path], env: env)
        XCTAssertEqual(badEnv.status, 78, badEnv.stderr)
        XCTAssertTrue(badEnv.stderr.contains("SPOTIFYD_ETL_LOG_LEVEL: invalid log level \"loud\"; accepted: debug, info, notice, warning, error"),
                      badEnv.stderr)
        // The flag wins even over an invalid environment value.
        let flagWins = try h.run(["run", "--once", "--config", h.configURL.path, "--max-wait", "20", "--log-level", "warning"], env: env)
        XCTAssertEqual(flagWins.status, 1, flagWins.stderr)
        XCTAssertFalse(flagWins.stderr.contains("<6>info"), flagWins.stderr.suffix(2000).description)
    }
}

/// The S3 side of the debug request log, against moto with signature checking on.
final class JournalMessageS3Tests: XCTestCase {
    func testS3RequestsAreLoggedWithoutSignaturesOrKeys() throws {
        let bucket = "spotify-warehouse"
        let moto = try MotoServer(buckets: [bucket])
        defer { moto.stop() }
        let h = try Harness(.init(scenario: "generated", playlists: 2, items: 30, seed: 5))
        try h.useS3Sink(bucket: bucket, endpoint: moto.endpoint, extra: "max_age = \"1s\"\n")
        let env = h.environment(awsAccessKey: moto.accessKey, secret: moto.secretKey)

        let r = try h.run(["run", "--once", "--config", h.configURL.path, "--max-wait", "20", "--log-level", "debug"], env: env)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr.suffix(3000))
        let puts = r.stderr.split(separator: "\n").filter {
            $0.range(of: #"^<7>debug s3 PUT /spotify-warehouse/spotify/[a-z_]+/dt=[0-9-]+/[a-z_]+-[0-9]{12}\.ndjson\.gz: HTTP 200, [0-9.,]+ (B|KB|MB) sent, [0-9.,]+ (B|KB|MB) received, [0-9,]+ ms"#,
                     options: .regularExpression) != nil
        }
        XCTAssertFalse(puts.isEmpty, r.stderr.suffix(3000).description)
        XCTAssertTrue(r.stderr.contains("batch uploaded: playlist_items/dt="), r.stderr.suffix(3000).description)
        for secret in [moto.secretKey, "Signature=", "X-Amz-Signature", "AWS4-HMAC-SHA256", "Authorization", "x-amz-content-sha256"] {
            XCTAssertFalse(r.stderr.contains(secret), "stderr contains \(secret)")
        }
    }
}
