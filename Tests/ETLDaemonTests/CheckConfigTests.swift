import ETLCore
import ETLDaemon
import ETLSink
import ETLState
import ETLTestSupport
import Foundation
import XCTest

/// `spotifyd-etl check-config` (offline and `--online`), the real binary against the real
/// Spotify emulator and a real moto server with signature checking on.
final class CheckConfigTests: XCTestCase {
    static let bucket = "spotify-warehouse"

    /// The harness writes a local [sink]; replace that table with an S3 one pointing at moto.
    private func useS3(_ h: Harness, _ moto: MotoServer) throws {
        try h.useS3Sink(bucket: Self.bucket, endpoint: moto.endpoint)
    }

    private func useRefreshTokenAuth(_ h: Harness) throws {
        let toml = try String(contentsOf: h.configURL, encoding: .utf8)
            .replacingOccurrences(of: "request_timeout = \"10s\"", with: "request_timeout = \"10s\"\nauth = \"refresh_token\"")
        try toml.write(to: h.configURL, atomically: true, encoding: .utf8)
    }

    private func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    private func check(_ h: Harness, online: Bool, env: [String: String]? = nil) throws -> Harness.Result {
        try h.run(["check-config", "--config", h.configURL.path] + (online ? ["--online"] : []), env: env)
    }

    func testEverythingRightPassesEveryCheckAndLeavesNoProbeBehind() throws {
        let moto = try MotoServer(buckets: [Self.bucket])
        defer { moto.stop() }
        let h = try Harness(.init(scenario: "small"))
        try useS3(h, moto)
        let env = h.environment(awsAccessKey: moto.accessKey, secret: moto.secretKey)

        let offline = try check(h, online: false, env: env)
        XCTAssertEqual(offline.status, 0, offline.stderr)
        XCTAssertEqual(offline.stdout, "ok\n")

        let r = try check(h, online: true, env: env)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stderr, "")
        let out = lines(r.stdout)
        XCTAssertEqual(out.count, 7, r.stdout)
        guard out.count == 7 else { return }
        XCTAssertEqual(out[0], "config: ok")
        XCTAssertEqual(out[1], "secrets: ok")
        XCTAssertEqual(out[2], "spotify token: ok (client_credentials)")
        XCTAssertTrue(out[3].hasPrefix("spotify playlist \(h.playlistIDs[0]): ok (\""), out[3])
        XCTAssertEqual(out[4], "s3 credentials: ok (environment)")
        XCTAssertTrue(out[5].hasPrefix("s3 write: ok (s3://\(Self.bucket)/spotify/_spotifyd-etl-probe/"), out[5])
        XCTAssertEqual(out[6], "s3 delete: ok")

        // The probe was deleted: nothing is left under the prefix.
        let client = try S3Client(settings: S3Settings(bucket: Self.bucket, region: "us-east-1", endpoint: moto.endpoint, pathStyle: true),
                                  credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: moto.accessKey,
                                                                                        secretAccessKey: moto.secretKey, source: "test")))
        XCTAssertEqual(try client.listObjects(prefix: "spotify/"), [])
        // Not a secret in sight.
        for secret in [moto.secretKey, h.emulator.options.clientSecret] {
            XCTAssertFalse(r.stdout.contains(secret))
        }
    }

    func testWrongSpotifySecretFailsTheTokenCheckWith69() throws {
        let h = try Harness(.init(scenario: "small"))
        var env = h.environment
        env["SPOTIFY_CLIENT_SECRET"] = "wrong-secret-value"
        // Offline there is nothing to notice: a secret is present.
        XCTAssertEqual(try check(h, online: false, env: env).status, 0)

        let r = try check(h, online: true, env: env)
        XCTAssertEqual(r.status, 69, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("config: ok\n") && r.stdout.contains("secrets: ok\n"), r.stdout)
        let failed = lines(r.stderr)
        XCTAssertEqual(failed.count, 1, r.stderr)
        XCTAssertTrue(failed.first?.hasPrefix("spotify token: ") == true, r.stderr)
        XCTAssertTrue(r.stderr.contains("invalid_client"), r.stderr)
        XCTAssertTrue(r.stdout.contains("spotify playlist \(h.playlistIDs[0]): skipped"), r.stdout)
        XCTAssertFalse((r.stdout + r.stderr).contains("wrong-secret-value"))
    }

    func testWrongAWSSecretFailsTheS3WriteWith69() throws {
        let moto = try MotoServer(buckets: [Self.bucket])
        defer { moto.stop() }
        let h = try Harness(.init(scenario: "small"))
        try useS3(h, moto)
        let wrong = "wrongSecretKeyValue0123456789abcdefghijkl"
        let r = try check(h, online: true, env: h.environment(awsAccessKey: moto.accessKey, secret: wrong))
        XCTAssertEqual(r.status, 69, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("spotify token: ok"), r.stdout)
        XCTAssertTrue(r.stdout.contains("s3 credentials: ok (environment)"), r.stdout)
        let failed = lines(r.stderr)
        XCTAssertEqual(failed.count, 1, r.stderr)
        XCTAssertTrue(failed.first?.hasPrefix("s3 write: SignatureDoesNotMatch") == true, r.stderr)
        XCTAssertTrue(r.stdout.contains("s3 delete: skipped"), r.stdout)
        XCTAssertFalse((r.stdout + r.stderr).contains(wrong))
    }

    /// `--file-only` (the unit's ExecReload=): the file is checked, the secrets are not.
    func testFileOnlyChecksTheFileNotTheSecrets() throws {
        let h = try Harness(.init(scenario: "small"))
        var env = h.environment
        env["SPOTIFY_CLIENT_ID"] = nil
        env["SPOTIFY_CLIENT_SECRET"] = nil
        let noSecrets = try h.run(["check-config", "--file-only", "--config", h.configURL.path], env: env)
        XCTAssertEqual(noSecrets.status, 0, noSecrets.stderr)
        XCTAssertEqual(noSecrets.stdout, "ok\n")
        try "[schedule]\nconcurrency = \"many\"\n".write(to: h.configURL, atomically: true, encoding: .utf8)
        let bad = try h.run(["check-config", "--file-only", "--config", h.configURL.path], env: env)
        XCTAssertEqual(bad.status, 78)
        XCTAssertTrue(bad.stderr.contains("concurrency"), bad.stderr)
    }

    func testMissingSecretsExit78NamingEachOne() throws {
        let h = try Harness(.init(scenario: "small"))
        try useRefreshTokenAuth(h)
        var env = h.environment
        env["SPOTIFY_CLIENT_ID"] = nil
        env["SPOTIFY_CLIENT_SECRET"] = nil
        env["SPOTIFY_REFRESH_TOKEN"] = nil

        for online in [false, true] {
            let r = try check(h, online: online, env: env)
            XCTAssertEqual(r.status, 78, "online \(online): " + r.stdout + r.stderr)
            let failed = lines(r.stderr)
            XCTAssertEqual(failed.count, 3, r.stderr)
            for (line, name) in zip(failed, ["SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_REFRESH_TOKEN"]) {
                XCTAssertTrue(line.contains("\(h.configURL.path): \(name): missing"), line)
                XCTAssertTrue(line.contains("$CREDENTIALS_DIRECTORY/\(name)"), line)
                XCTAssertTrue(line.contains("CREDENTIALS_DIRECTORY is not set"), line)
                XCTAssertEqual(line.hasPrefix("secrets: "), online, line)
            }
            XCTAssertTrue(failed.last?.contains("state database \(h.statePath) does not exist") == true, r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: h.statePath), "check-config created the state DB")
            if online { XCTAssertTrue(r.stdout.contains("spotify token: skipped"), r.stdout) }
        }

        // With $CREDENTIALS_DIRECTORY set, the message names the file it looked for; an empty
        // credential file counts as missing; a present one is not reported.
        let creds = h.dir.appendingPathComponent("creds")
        try FileManager.default.createDirectory(at: creds, withIntermediateDirectories: true)
        try "\n".write(to: creds.appendingPathComponent("SPOTIFY_CLIENT_ID"), atomically: true, encoding: .utf8)
        try "file-secret".write(to: creds.appendingPathComponent("SPOTIFY_CLIENT_SECRET"), atomically: true, encoding: .utf8)
        env["CREDENTIALS_DIRECTORY"] = creds.path
        let r = try check(h, online: false, env: env)
        XCTAssertEqual(r.status, 78)
        let failed = lines(r.stderr)
        XCTAssertEqual(failed.count, 2, r.stderr)
        XCTAssertTrue(failed.first?.contains("SPOTIFY_CLIENT_ID: missing") == true, r.stderr)
        XCTAssertTrue(failed.first?.contains("looked in \(creds.path)/SPOTIFY_CLIENT_ID and in the environment (CREDENTIALS_DIRECTORY is set)") == true, r.stderr)
        XCTAssertTrue(failed.last?.contains("SPOTIFY_REFRESH_TOKEN: missing") == true, r.stderr)
    }

    /// A refresh token stored by `spotifyd-etl login` satisfies auth = "refresh_token", and the
    /// check only reads the database.
    func testStoredRefreshTokenSatisfiesRefreshTokenAuth() throws {
        let h = try Harness(.init(scenario: "small"))
        try useRefreshTokenAuth(h)
        try FileManager.default.createDirectory(atPath: (h.statePath as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let empty = try check(h, online: false)
        XCTAssertEqual(empty.status, 78)
        XCTAssertTrue(empty.stderr.contains("SPOTIFY_REFRESH_TOKEN: missing"), empty.stderr)
        XCTAssertEqual(lines(empty.stderr).count, 1, empty.stderr)

        let state = try StateStore(path: h.statePath)
        XCTAssertTrue(try check(h, online: false).stderr.contains("holds no refresh token"))
        try state.set(Components.storedRefreshTokenKey, "stored-refresh-token")
        let r = try check(h, online: false)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "ok\n")
    }
}
