import ETLCore
import ETLExtraction
import ETLHTTP
import ETLState
import ETLTestSupport
import Foundation
import XCTest

/// Refresh tokens that Spotify rotates (the emulator's `rotate_refresh`: every refresh answers
/// with a new refresh token and retires the one sent), with the real binary: the newest token
/// wins across restarts, a token the operator puts in place of the old one wins over the
/// stored chain, and a save that fails is retried and shown in `status`.
final class RefreshTokenRotationTests: XCTestCase {
    private func harness() throws -> Harness {
        let h = try Harness(.init(scenario: "generated", playlists: 2, items: 20, seed: 31),
                            extraConfig: "")
        var toml = try String(contentsOf: h.configURL, encoding: .utf8)
        toml = toml.replacingOccurrences(of: "[spotify]\n", with: "[spotify]\nauth = \"refresh_token\"\n")
        try toml.write(to: h.configURL, atomically: true, encoding: .utf8)
        _ = try h.emulator.control("POST", "/_emulator/config", json: ["rotate_refresh": true])
        return h
    }

    /// A refresh token through the emulator's real authorization-code flow (the browser's part
    /// played by hand: the 302 carries the code).
    private func newRefreshToken(_ h: Harness) throws -> String {
        let http = CurlHTTPClient()
        let redirect = "http://127.0.0.1:9/callback"
        let query = "client_id=\(h.emulator.options.clientID)&response_type=code&redirect_uri=\(redirect)&state=s"
        let authorize = try http.send(HTTPRequest(url: h.emulator.accountsURL + "/authorize?" + query))
        XCTAssertEqual(authorize.status, 302)
        let location = try XCTUnwrap(authorize.header("location"))
        let code = try XCTUnwrap(URLComponents(string: location)?.queryItems?.first { $0.name == "code" }?.value)
        let basic = Data("\(h.emulator.options.clientID):\(h.emulator.options.clientSecret)".utf8).base64EncodedString()
        let form = "grant_type=authorization_code&code=\(code)&redirect_uri=\(redirect)"
        let resp = try http.send(HTTPRequest(method: "POST", url: h.emulator.accountsURL + "/api/token",
                                             headers: [("Authorization", "Basic \(basic)"),
                                                       ("Content-Type", "application/x-www-form-urlencoded")],
                                             body: Data(form.utf8)))
        XCTAssertEqual(resp.status, 200, String(decoding: resp.body, as: UTF8.self))
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: resp.body) as? [String: Any])
        return try XCTUnwrap(obj["refresh_token"] as? String)
    }

    private func once(_ h: Harness, token: String) throws -> Harness.Result {
        var env = h.environment
        env["SPOTIFY_REFRESH_TOKEN"] = token
        return try h.run(["run", "--once", "--config", h.configURL.path, "--max-wait", "20"], env: env)
    }

    private func stored(_ h: Harness) throws -> (token: String, origin: String) {
        (try h.sqlite("SELECT value FROM kv WHERE key = 'spotify.refresh_token'"),
         try h.sqlite("SELECT value FROM kv WHERE key = 'spotify.refresh_token.origin'"))
    }

    func testRotatedTokenWinsAcrossRestartsAndAReplacedFileWinsOverTheOldChain() throws {
        let h = try harness()
        let first = try newRefreshToken(h)
        let r1 = try once(h, token: first)
        XCTAssertEqual(r1.status, 0, r1.stderr)
        let s1 = try stored(h)
        XCTAssertFalse(s1.token.isEmpty, "the rotated token is stored")
        XCTAssertNotEqual(s1.token, first, "Spotify rotated it")
        XCTAssertEqual(s1.origin, RefreshTokenLineage.fingerprint(first), "stored with the origin of its chain")
        XCTAssertFalse(s1.origin.contains(first), "the origin is a fingerprint, not the token")

        // Restart with the same (now retired) token in the environment: the stored one is used.
        let r2 = try once(h, token: first)
        XCTAssertEqual(r2.status, 0, "the retired token would be invalid_grant: \(r2.stderr)")
        XCTAssertFalse(r2.stderr.contains("invalid_grant"), r2.stderr)
        let s2 = try stored(h)
        XCTAssertNotEqual(s2.token, s1.token, "rotated again")
        XCTAssertEqual(s2.origin, s1.origin)

        // The operator replaces the token: the new one wins over the stored chain of the old.
        let replaced = try newRefreshToken(h)
        let r3 = try once(h, token: replaced)
        XCTAssertEqual(r3.status, 0, r3.stderr)
        let s3 = try stored(h)
        XCTAssertEqual(s3.origin, RefreshTokenLineage.fingerprint(replaced), "the chain now descends from the new token")
        XCTAssertNotEqual(s3.token, s2.token)
        for secret in [first, replaced, s1.token, s2.token, s3.token] {
            XCTAssertFalse(r1.stderr.contains(secret) || r2.stderr.contains(secret) || r3.stderr.contains(secret),
                           "no refresh token in the log")
        }
    }

    /// The state database refuses the save (a trigger aborts writes of the token): the daemon
    /// keeps the token pending, `status` is degraded and names it, and once the database takes
    /// writes again a later poll saves it; a restart with the old token in the environment
    /// then works.
    func testFailedSaveIsRetriedAndShownInStatus() throws {
        let h = try harness()
        let first = try newRefreshToken(h)
        try FileManager.default.createDirectory(atPath: (h.statePath as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        _ = try StateStore(path: h.statePath)  // the schema, so the trigger has a table
        _ = try h.sqlite("""
            CREATE TRIGGER refuse_token_insert BEFORE INSERT ON kv WHEN NEW.key = 'spotify.refresh_token'
            BEGIN SELECT RAISE(ABORT, 'injected: token writes refused'); END;
            CREATE TRIGGER refuse_token_update BEFORE UPDATE ON kv WHEN NEW.key = 'spotify.refresh_token'
            BEGIN SELECT RAISE(ABORT, 'injected: token writes refused'); END;
            """)
        var env = h.environment
        env["SPOTIFY_REFRESH_TOKEN"] = first
        let (daemon, _, errURL) = try h.launch(["run", "--config", h.configURL.path], env: env)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }

        func status(json: Bool) throws -> Harness.Result {
            try h.run(["status", "--config", h.configURL.path] + (json ? ["--json"] : []))
        }
        var table = Harness.Result(status: -1, stdout: "", stderr: "")
        try waitFor("status shows the unsaved token") {
            table = try status(json: false)
            return table.status == 1 && table.stdout.contains("token save")
        }
        XCTAssertTrue(table.stdout.hasPrefix("degraded: newest refresh token not saved since "), table.stdout)
        XCTAssertTrue(table.stdout.contains("injected: token writes refused"), table.stdout)
        let json = try status(json: true)
        XCTAssertEqual(json.status, 1)
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let unsaved = try XCTUnwrap((j["token"] as? [String: Any])?["refresh_token_unsaved"] as? [String: Any], json.stdout)
        XCTAssertGreaterThanOrEqual(unsaved["attempts"] as? Int ?? 0, 1)
        XCTAssertNotNil(unsaved["next_attempt"] as? String)
        XCTAssertEqual(try stored(h).token, "", "nothing stored yet")

        // The database takes writes again; polls (asked for over the control socket) retry.
        _ = try h.sqlite("DROP TRIGGER refuse_token_insert; DROP TRIGGER refuse_token_update;")
        try waitFor("the token saved") {
            _ = try h.run(["poll", "--config", h.configURL.path])
            return !(try stored(h).token.isEmpty)
        }
        let s = try stored(h)
        XCTAssertNotEqual(s.token, first)
        XCTAssertEqual(s.origin, RefreshTokenLineage.fingerprint(first))
        try waitFor("status healthy again") { try status(json: false).status == 0 }
        XCTAssertNil(((try JSONSerialization.jsonObject(with: Data(try status(json: true).stdout.utf8)) as? [String: Any])?["token"]
            as? [String: Any])?["refresh_token_unsaved"])

        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        XCTAssertEqual(daemon.terminationStatus, 0)
        let log = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("cannot save the rotated Spotify refresh token"), log)
        XCTAssertTrue(log.contains("saved the rotated Spotify refresh token after"), log)
        XCTAssertFalse(log.contains(first) || log.contains(s.token), "no refresh token in the log")
        // A restart with the retired token in the environment starts with the saved one.
        let again = try once(h, token: first)
        XCTAssertEqual(again.status, 0, again.stderr)
    }

    private func waitFor(_ what: String, timeout: Double = 40, _ cond: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try cond() { return }
            usleep(250_000)
        }
        XCTFail("timed out waiting for \(what)")
        throw TimedOut()
    }

    private struct TimedOut: Error {}
}
