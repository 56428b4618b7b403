import Foundation
import XCTest
@testable import ETLConfig

final class SecretsTests: XCTestCase {
    let id = "client-id-ABCDEF123"
    let secret = "s3cr3t-VALUE-must-not-leak"
    let token = "AQDrefresh-TOKEN-must-not-leak"
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ value: String) throws {
        try value.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    func config(auth: AppConfig.AuthMode) -> AppConfig {
        var c = AppConfig()
        c.sourcePath = "/etc/spotifyd-etl/spotifyd-etl.toml"
        c.spotify.auth = auth
        return c
    }

    func testEnvironmentOnly() {
        let s = Secrets.load(environment: ["SPOTIFY_CLIENT_ID": id, "SPOTIFY_CLIENT_SECRET": secret + "\n"])
        XCTAssertEqual(s, SpotifySecrets(clientID: id, clientSecret: secret, refreshToken: nil))
    }

    func testCredentialFilesWinOverEnvironmentAndAreTrimmed() throws {
        try write("SPOTIFY_CLIENT_SECRET", "file-\(secret)\n")
        try write("SPOTIFY_REFRESH_TOKEN", "file-\(token)\r\n")
        let env = ["CREDENTIALS_DIRECTORY": dir.path, "SPOTIFY_CLIENT_ID": id,
                   "SPOTIFY_CLIENT_SECRET": "env-\(secret)", "SPOTIFY_REFRESH_TOKEN": "env-\(token)"]
        let s = Secrets.load(environment: env)
        XCTAssertEqual(s.clientID, id) // no file: environment
        XCTAssertEqual(s.clientSecret, "file-\(secret)")
        XCTAssertEqual(s.refreshToken, "file-\(token)")
    }

    func testEmptyFileAndEmptyVariableCountAsAbsent() throws {
        try write("SPOTIFY_CLIENT_ID", "\n")
        let s = Secrets.load(environment: ["CREDENTIALS_DIRECTORY": dir.path, "SPOTIFY_CLIENT_ID": "env-id", "SPOTIFY_CLIENT_SECRET": ""])
        XCTAssertEqual(s.clientID, "env-id")
        XCTAssertNil(s.clientSecret)
        // A credentials directory that does not exist falls back to the environment.
        let t = Secrets.load(environment: ["CREDENTIALS_DIRECTORY": "/nonexistent-creds", "SPOTIFY_CLIENT_ID": "x-id"])
        XCTAssertEqual(t.clientID, "x-id")
    }

    func testRequireSecrets() throws {
        let full = SpotifySecrets(clientID: id, clientSecret: secret, refreshToken: token)
        XCTAssertNoThrow(try Secrets.requireSecrets(config(auth: .clientCredentials), SpotifySecrets(clientID: id, clientSecret: secret), storedRefreshTokenAvailable: false))
        XCTAssertNoThrow(try Secrets.requireSecrets(config(auth: .refreshToken), full, storedRefreshTokenAvailable: false))
        XCTAssertNoThrow(try Secrets.requireSecrets(config(auth: .refreshToken), SpotifySecrets(clientID: id, clientSecret: secret), storedRefreshTokenAvailable: true))

        var errors: [ConfigError] = []
        func expect(_ c: AppConfig, _ s: SpotifySecrets, stored: Bool, key: String) {
            do { try Secrets.requireSecrets(c, s, storedRefreshTokenAvailable: stored); XCTFail("expected \(key)") } catch {
                XCTAssertEqual(error.key, key)
                XCTAssertEqual(error.file, "/etc/spotifyd-etl/spotifyd-etl.toml")
                XCTAssertTrue(error.message.contains("environment variable"), "\(error)")
                XCTAssertTrue(error.message.contains("$CREDENTIALS_DIRECTORY/\(key)"), "\(error)")
                errors.append(error)
            }
        }
        expect(config(auth: .clientCredentials), SpotifySecrets(clientSecret: secret, refreshToken: token), stored: true, key: "SPOTIFY_CLIENT_ID")
        expect(config(auth: .clientCredentials), SpotifySecrets(clientID: id, refreshToken: token), stored: true, key: "SPOTIFY_CLIENT_SECRET")
        expect(config(auth: .refreshToken), SpotifySecrets(clientID: id, clientSecret: secret), stored: false, key: "SPOTIFY_REFRESH_TOKEN")
        XCTAssertTrue(errors.last!.message.contains("spotifyd-etl login"))
        XCTAssertEqual(errors.count, 3)
        for e in errors {
            for value in [id, secret, token] {
                XCTAssertFalse(e.description.contains(value), "\(e) leaks a secret")
            }
        }
    }

    func testRedaction() {
        let s = SpotifySecrets(clientID: id, clientSecret: secret, refreshToken: token)
        var dumped = ""
        dump(s, to: &dumped)
        for text in [s.description, s.debugDescription, "\(s)", String(describing: s), String(reflecting: s), dumped] {
            for value in [id, secret, token] {
                XCTAssertFalse(text.contains(value), "leak in \(text)")
            }
            XCTAssertTrue(text.contains("[REDACTED]"), text)
        }
        XCTAssertTrue(SpotifySecrets(clientID: id).description.contains("clientSecret: absent"))
        XCTAssertEqual(Set(s.all), [id, secret, token])
    }
}
