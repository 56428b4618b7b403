import ETLTestSupport
import Foundation
import XCTest
@testable import ETLConfig

final class ConfigLoaderTests: XCTestCase {
    static let id1 = "37i9dQZF1DXcBWIGoYBM5M"
    static let id2 = "37i9dQZF1DX0XUsuxWHRQd"
    let minimal = "[[playlists]]\nid = \"\(ConfigLoaderTests.id1)\"\n"

    /// The error for `text`, failing the test when it parses.
    func failure(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ConfigError {
        do {
            _ = try ConfigLoader.parse(text: text, sourcePath: "/etc/test.toml")
            XCTFail("expected a ConfigError", file: file, line: line)
            return ConfigError(file: "", key: "", message: "")
        } catch {
            XCTAssertEqual(error.file, "/etc/test.toml", file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), "one line: \(error)", file: file, line: line)
            return error
        }
    }

    func assertError(_ text: String, key: String, contains: String, file: StaticString = #filePath, line: UInt = #line) {
        let e = failure(text, file: file, line: line)
        XCTAssertEqual(e.key, key, "\(e)", file: file, line: line)
        XCTAssertTrue(e.message.contains(contains), "\(e) should contain \(contains)", file: file, line: line)
        XCTAssertTrue(e.description.hasPrefix("/etc/test.toml: \(key): "), "\(e)", file: file, line: line)
    }

    func withSection(_ section: String, _ body: String) -> String { minimal + "[\(section)]\n" + body + "\n" }

    // MARK: sample and defaults

    func testSampleFileLoads() throws {
        let path = TestSupport.packageRoot + "/etc/spotifyd-etl.toml"
        let c = try ConfigLoader.load(path: path)
        XCTAssertEqual(c.sourcePath, path)
        XCTAssertEqual(c.playlists, [.init(id: Self.id1), .init(id: Self.id2, interval: 3600)])
        XCTAssertEqual(c.sink.kind, .local)
        XCTAssertEqual(c.sink.maxBytes, 64 << 20)
        XCTAssertEqual(c.schedule.interval, 900)
        XCTAssertEqual(c.spotify.apiURL, "https://api.spotify.com/v1")
        // The sample documents the defaults: apart from playlists and source it equals AppConfig().
        var expected = AppConfig()
        expected.playlists = c.playlists
        expected.sourcePath = path
        XCTAssertEqual(c, expected)
    }

    func testDefaultsApplied() throws {
        let c = try ConfigLoader.parse(text: minimal, sourcePath: "x.toml")
        var expected = AppConfig()
        expected.playlists = [.init(id: Self.id1)]
        expected.sourcePath = "x.toml"
        XCTAssertEqual(c, expected)
        XCTAssertEqual(c.spotify.auth, .clientCredentials)
        XCTAssertEqual(c.spotify.additionalTypes, ["track", "episode"])
        XCTAssertNil(c.spotify.market)
        XCTAssertEqual(c.schedule.concurrency, 4)
        XCTAssertEqual(c.sink.s3.multipartThreshold, 16 << 20)
        XCTAssertEqual(c.metrics.namespace, "SpotifyETL")
    }

    func testFullS3ConfigParses() throws {
        let text = """
        [spotify]
        api_url = "http://127.0.0.1:8123/v1/"
        accounts_url = "http://localhost:8123"
        auth = "refresh_token"
        market = "DE"
        additional_types = ["track"]
        request_timeout = "1m30s"
        [[playlists]]
        id = "spotify:playlist:\(Self.id1)"
        interval = "1h30m"
        [[playlists]]
        id = "\(Self.id2)"
        [schedule]
        interval = "90s"
        jitter = 0
        concurrency = 64
        [sink]
        kind = "s3"
        format = "csv"
        compression = "none"
        max_rows = 10
        max_bytes = 1000
        max_age = "1500ms"
        bucket = "my.bucket-1"
        prefix = "spotify"
        region = "eu-central-1"
        endpoint = "http://[::1]:9000"
        path_style = true
        multipart_threshold = "5MiB"
        storage_class = "STANDARD_IA"
        profile = "etl"
        [metrics]
        interval = "2m"
        namespace = "Team/Spotify ETL"
        [control]
        socket = "/tmp/ctl.sock"
        """
        let c = try ConfigLoader.parse(text: text, sourcePath: "x.toml")
        XCTAssertEqual(c.spotify.apiURL, "http://127.0.0.1:8123/v1")
        XCTAssertEqual(c.spotify.accountsURL, "http://localhost:8123")
        XCTAssertEqual(c.spotify.auth, .refreshToken)
        XCTAssertEqual(c.spotify.market, "DE")
        XCTAssertEqual(c.spotify.additionalTypes, ["track"])
        XCTAssertEqual(c.spotify.requestTimeout, 90)
        XCTAssertEqual(c.playlists, [.init(id: Self.id1, interval: 5400), .init(id: Self.id2)])
        XCTAssertEqual(c.schedule.interval, 90)
        XCTAssertEqual(c.schedule.jitter, 0)
        XCTAssertEqual(c.schedule.concurrency, 64)
        XCTAssertEqual(c.sink.kind, .s3)
        XCTAssertEqual(c.sink.format, .csv)
        XCTAssertEqual(c.sink.compression, Optional(AppConfig.Compression.none))
        XCTAssertEqual(c.sink.maxRows, 10)
        XCTAssertEqual(c.sink.maxBytes, 1000)
        XCTAssertEqual(c.sink.maxAge, 1.5)
        XCTAssertEqual(c.sink.s3.bucket, "my.bucket-1")
        XCTAssertEqual(c.sink.s3.prefix, "spotify/")
        XCTAssertEqual(c.sink.s3.region, "eu-central-1")
        XCTAssertEqual(c.sink.s3.endpoint, "http://[::1]:9000")
        XCTAssertTrue(c.sink.s3.pathStyle)
        XCTAssertEqual(c.sink.s3.multipartThreshold, 5 << 20)
        XCTAssertEqual(c.sink.s3.storageClass, "STANDARD_IA")
        XCTAssertEqual(c.sink.s3.profile, "etl")
        XCTAssertEqual(c.metrics.interval, 120)
        XCTAssertEqual(c.metrics.namespace, "Team/Spotify ETL")
        XCTAssertEqual(c.control.socket, "/tmp/ctl.sock")
    }

    func testDurationsAndSizes() throws {
        for (text, seconds) in [("1h30m", 5400.0), ("90s", 90), ("15m", 900), ("10500ms", 10.5), ("2d", 172_800)] {
            let c = try ConfigLoader.parse(text: withSection("schedule", "interval = \"\(text)\""), sourcePath: "x")
            XCTAssertEqual(c.schedule.interval, seconds, text)
        }
        for (text, bytes) in [("64MiB", 64 << 20), ("512KiB", 512 << 10), ("10MB", 10_000_000), ("1GiB", 1 << 30), ("1000", 1000)] {
            let c = try ConfigLoader.parse(text: withSection("sink", "max_bytes = \"\(text)\""), sourcePath: "x")
            XCTAssertEqual(c.sink.maxBytes, bytes, text)
        }
    }

    func testUnicodeValues() throws {
        let text = minimal + """
        [state]
        path = "/var/lib/データ/état 🎵.db"
        [sink]
        path = "/srv/ausgabe/müsik"
        prefix = "données/"
        """
        let c = try ConfigLoader.parse(text: text, sourcePath: "/etc/ünïcode.toml")
        XCTAssertEqual(c.state.path, "/var/lib/データ/état 🎵.db")
        XCTAssertEqual(c.sink.path, "/srv/ausgabe/müsik")
        XCTAssertEqual(c.sink.s3.prefix, "données/")
        // Unicode in a bad value or unknown key still yields one quoted line.
        assertError(withSection("spotify", "\"märket\" = \"US\""), key: "spotify.\"märket\"", contains: "unknown key")
        assertError(withSection("spotify", "market = \"ÜS\""), key: "spotify.market", contains: "\"ÜS\"")
        assertError(withSection("state", "path = \"/a\\nb\""), key: "state.path", contains: "\"/a\\nb\"")
        // Non-ASCII digits are not durations.
        assertError(withSection("schedule", "interval = \"١٥m\""), key: "schedule.interval", contains: "bad duration")
    }

    // MARK: playlist ids

    func testPlaylistIDNormalisation() throws {
        let id = Self.id1
        for form in [id, "spotify:playlist:\(id)", "spotify:user:someone:playlist:\(id)",
                     "https://open.spotify.com/playlist/\(id)", "https://open.spotify.com/playlist/\(id)?si=a1b2c3&pt=x",
                     "http://open.spotify.com/playlist/\(id)/", "open.spotify.com/playlist/\(id)",
                     "https://open.spotify.com/intl-de/playlist/\(id)", "https://open.spotify.com/user/bob/playlist/\(id)",
                     "  \(id)  "] {
            XCTAssertEqual(PlaylistID.normalize(form), id, form)
            let c = try ConfigLoader.parse(text: "[[playlists]]\nid = \"\(form)\"\n", sourcePath: "x")
            XCTAssertEqual(c.playlists.map(\.id), [id], form)
        }
        for bad in ["", "37i9dQZF1DXcBWIGoYBM5", "37i9dQZF1DXcBWIGoYBM5M1", "37i9dQZF1DXcBWIGoYBM5-", "spotify:album:\(id)",
                    "https://open.spotify.com/album/\(id)", "https://evil.example/playlist/\(id)", "37i9dQZF1DXcBWIGoYBM5Ｍ",
                    "spotify:playlist:", "https://open.spotify.com/playlist/"] {
            XCTAssertNil(PlaylistID.normalize(bad), bad)
        }
        // The short array-of-strings form works too.
        let c = try ConfigLoader.parse(text: "playlists = [\"\(Self.id1)\", \"spotify:playlist:\(Self.id2)\"]", sourcePath: "x")
        XCTAssertEqual(c.playlists.map(\.id), [Self.id1, Self.id2])
    }

    func testPlaylistErrors() {
        assertError("[spotify]\nauth = \"client_credentials\"\n", key: "playlists", contains: "no playlists")
        assertError("playlists = []\n", key: "playlists", contains: "no playlists")
        assertError("playlists = 3\n", key: "playlists", contains: "expected an array, got an integer")
        assertError(minimal + "[[playlists]]\nid = \"abc\"\n", key: "playlists[1].id", contains: "malformed playlist id \"abc\"")
        assertError(minimal + "[[playlists]]\ninterval = \"5m\"\n", key: "playlists[1].id", contains: "missing")
        assertError(minimal + "[[playlists]]\nid = 42\n", key: "playlists[1].id", contains: "expected a string, got an integer")
        assertError(minimal + "[[playlists]]\nid = \"\(Self.id2)\"\n[[playlists]]\nid = \"spotify:playlist:\(Self.id1)\"\n",
                    key: "playlists[2].id", contains: "duplicate playlist id \(Self.id1) (also playlists[0])")
        assertError(minimal + "[[playlists]]\nid = \"\(Self.id2)\"\n[[playlists]]\nid = \"\(Self.id2)\"\ninterval = \"1x\"\n",
                    key: "playlists[2].interval", contains: "bad duration \"1x\"")
        assertError(minimal + "[[playlists]]\nid = \"\(Self.id2)\"\nintervall = \"1m\"\n",
                    key: "playlists[1].intervall", contains: "unknown key (did you mean \"interval\"?)")
        assertError("playlists = [true]\n", key: "playlists[0]", contains: "expected a table")
    }

    // MARK: file and syntax

    func testMissingAndUnreadableFile() throws {
        do { _ = try ConfigLoader.load(path: "/nonexistent/dir/spotifyd-etl.toml"); XCTFail() } catch {
            XCTAssertEqual(error.file, "/nonexistent/dir/spotifyd-etl.toml")
            XCTAssertEqual(error.key, "(file)")
            XCTAssertTrue(error.message.contains("No such file"), "\(error)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfgtest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        do { _ = try ConfigLoader.load(path: dir.path); XCTFail() } catch {
            XCTAssertTrue(error.message.contains("is a directory"), "\(error)")
        }
        let binary = dir.appendingPathComponent("bin.toml")
        try Data([0xFF, 0xFE, 0x00, 0x41]).write(to: binary)
        do { _ = try ConfigLoader.load(path: binary.path); XCTFail() } catch {
            XCTAssertTrue(error.message.contains("UTF-8"), "\(error)")
        }
        let good = dir.appendingPathComponent("good.toml")
        try minimal.write(to: good, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ConfigLoader.load(path: good.path).playlists.map(\.id), [Self.id1])
        if getuid() != 0 {
            try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: good.path)
            do { _ = try ConfigLoader.load(path: good.path); XCTFail() } catch {
                XCTAssertTrue(error.message.contains("Permission denied"), "\(error)")
            }
        }
    }

    /// The size cap refuses what cannot be a config, not a long playlist list: 40,000
    /// `[[playlists]]` tables (1.8 MB; docs/scaling.md's 100,000 are 4.5 MB) load, and a file
    /// one byte over the cap is one line naming the cause, read no further.
    func testLongPlaylistListLoadsAndOversizedFileIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfgtest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var text = ""
        for i in 0..<40_000 {
            let n = String(i)
            text += "[[playlists]]\nid = \"pl" + String(repeating: "0", count: 20 - n.count) + n + "\"\n\n"
        }
        XCTAssertGreaterThan(text.utf8.count, 1 << 20)
        let long = dir.appendingPathComponent("long.toml")
        try text.write(to: long, atomically: true, encoding: .utf8)
        let c = try ConfigLoader.load(path: long.path)
        XCTAssertEqual(c.playlists.count, 40_000)
        XCTAssertEqual(c.playlists.last?.id, "pl00000000000000039999")

        let huge = dir.appendingPathComponent("huge.toml")
        XCTAssertTrue(FileManager.default.createFile(atPath: huge.path, contents: Data(minimal.utf8)))
        let handle = try FileHandle(forWritingTo: huge)
        try handle.truncate(atOffset: UInt64(ConfigLoader.maxFileSize + 1))  // sparse: no 16 MiB written
        try handle.close()
        do { _ = try ConfigLoader.load(path: huge.path); XCTFail("an oversized file loaded") } catch {
            XCTAssertEqual(error.key, "(file)")
            XCTAssertEqual(error.message, "config file is larger than 16 MiB; is this the right file?")
        }
    }

    func testSyntaxErrorHasLineAndColumn() {
        let e = failure(minimal + "[sink]\nmax_rows = = 3\n")
        XCTAssertTrue(e.key.hasPrefix("line 4, column "), "\(e)")
        XCTAssertTrue(e.message.hasPrefix("TOML syntax error: "), "\(e)")
        let dup = failure(minimal + "[sink]\nkind = \"local\"\nkind = \"s3\"\n")
        XCTAssertTrue(dup.key.hasPrefix("line 5"), "\(dup)")
    }

    // MARK: keys and types

    func testUnknownKeys() {
        assertError(minimal + "[sinks]\nkind = \"local\"\n", key: "sinks", contains: "unknown key (did you mean \"sink\"?)")
        assertError(withSection("sink", "max_byte = \"1MiB\""), key: "sink.max_byte", contains: "did you mean \"max_bytes\"")
        assertError(withSection("spotify", "client_secret = \"hunter2-very-secret\""), key: "spotify.client_secret",
                    contains: "secrets do not belong in the config file")
        let e = failure(withSection("spotify", "client_secret = \"hunter2-very-secret\""))
        XCTAssertFalse(e.description.contains("hunter2"))
        assertError("verbose = true\n" + minimal, key: "verbose", contains: "unknown key")
        assertError(withSection("sink", "\"a.b\" = 1"), key: "sink.\"a.b\"", contains: "unknown key")
    }

    func testWrongTypes() {
        assertError("sink = 3\n" + minimal, key: "sink", contains: "expected a table, got an integer")
        assertError(withSection("schedule", "concurrency = \"4\""), key: "schedule.concurrency", contains: "expected an integer, got a string")
        assertError(withSection("schedule", "concurrency = 4.0"), key: "schedule.concurrency", contains: "got a floating-point number")
        assertError(withSection("schedule", "jitter = \"0.1\""), key: "schedule.jitter", contains: "expected a number")
        assertError(withSection("schedule", "interval = 60"), key: "schedule.interval", contains: "expected a duration string")
        assertError(withSection("sink", "path_style = \"yes\""), key: "sink.path_style", contains: "expected true or false")
        assertError(withSection("spotify", "api_url = 1"), key: "spotify.api_url", contains: "expected a string")
        assertError(withSection("spotify", "additional_types = \"track\""), key: "spotify.additional_types", contains: "expected an array")
        assertError(withSection("sink", "max_bytes = true"), key: "sink.max_bytes", contains: "expected a size string")
    }

    // MARK: value rules

    func testDurationAndSizeErrors() {
        assertError(withSection("sink", "max_age = \"60\""), key: "sink.max_age", contains: "bad duration \"60\"")
        assertError(withSection("sink", "max_age = \"0s\""), key: "sink.max_age", contains: "bad duration")
        assertError(withSection("sink", "max_age = \"-5s\""), key: "sink.max_age", contains: "bad duration")
        assertError(withSection("spotify", "request_timeout = \"1 min\""), key: "spotify.request_timeout", contains: "bad duration")
        assertError(withSection("metrics", "interval = \"999999999999d\""), key: "metrics.interval", contains: "too long")
        assertError(withSection("sink", "max_bytes = \"64 MB s\""), key: "sink.max_bytes", contains: "bad size \"64 MB s\"")
        assertError(withSection("sink", "max_bytes = \"64mib\""), key: "sink.max_bytes", contains: "bad size")
        assertError(withSection("sink", "max_bytes = \"0\""), key: "sink.max_bytes", contains: "bad size")
        assertError(withSection("sink", "max_bytes = -1"), key: "sink.max_bytes", contains: "must be positive")
        // Would overflow Int inside Units.parseByteSize; must be an error, not a crash.
        assertError(withSection("sink", "max_bytes = \"99999999999999999GiB\""), key: "sink.max_bytes", contains: "bad size")
        assertError(withSection("sink", "max_bytes = \"8GiB\""), key: "sink.max_bytes", contains: "at most 4GiB")
        assertError(withSection("sink", "multipart_threshold = \"1MiB\""), key: "sink.multipart_threshold", contains: "at least 5MiB")
        assertError(withSection("sink", "max_rows = 0"), key: "sink.max_rows", contains: "between 1 and")
    }

    func testScheduleRules() {
        assertError(withSection("schedule", "jitter = 1.0"), key: "schedule.jitter", contains: "[0, 1)")
        assertError(withSection("schedule", "jitter = -0.1"), key: "schedule.jitter", contains: "[0, 1)")
        assertError(withSection("schedule", "jitter = nan"), key: "schedule.jitter", contains: "[0, 1)")
        assertError(withSection("schedule", "concurrency = 0"), key: "schedule.concurrency", contains: "between 1 and 64, got 0")
        assertError(withSection("schedule", "concurrency = 65"), key: "schedule.concurrency", contains: "between 1 and 64, got 65")
    }

    func testEnumsAndSpotifyRules() {
        assertError(withSection("sink", "kind = \"gcs\""), key: "sink.kind", contains: "unknown sink kind \"gcs\"; expected \"local\" or \"s3\"")
        assertError(withSection("sink", "format = \"parquet\""), key: "sink.format", contains: "unknown format \"parquet\"")
        assertError(withSection("sink", "compression = \"zstd\""), key: "sink.compression", contains: "unknown compression \"zstd\"")
        assertError(withSection("spotify", "auth = \"password\""), key: "spotify.auth", contains: "unknown auth mode \"password\"")
        assertError(withSection("spotify", "market = \"us\""), key: "spotify.market", contains: "two-letter uppercase")
        assertError(withSection("spotify", "market = \"USA\""), key: "spotify.market", contains: "two-letter uppercase")
        assertError(withSection("spotify", "additional_types = [\"track\", \"album\"]"), key: "spotify.additional_types[1]", contains: "\"album\"")
        assertError(withSection("spotify", "additional_types = [\"track\", 1]"), key: "spotify.additional_types[1]", contains: "expected a string")
        assertError(withSection("spotify", "additional_types = []"), key: "spotify.additional_types", contains: "at least one")
        assertError(withSection("spotify", "additional_types = [\"track\", \"track\"]"), key: "spotify.additional_types[1]", contains: "twice")
    }

    func testURLRules() {
        assertError(withSection("spotify", "api_url = \"ftp://api.spotify.com/v1\""), key: "spotify.api_url", contains: "http or https")
        assertError(withSection("spotify", "api_url = \"api.spotify.com/v1\""), key: "spotify.api_url", contains: "not a valid URL")
        assertError(withSection("spotify", "accounts_url = \"http://accounts.spotify.com\""), key: "spotify.accounts_url", contains: "only for loopback")
        assertError(withSection("spotify", "accounts_url = \"https://\""), key: "spotify.accounts_url", contains: "no host")
        assertError(withSection("spotify", "api_url = \"https://api.example.com/v1?x=1\""), key: "spotify.api_url", contains: "query")
        let cred = failure(withSection("spotify", "api_url = \"https://bob:pa55word@proxy.example\""))
        XCTAssertEqual(cred.key, "spotify.api_url")
        XCTAssertTrue(cred.message.contains("credentials"))
        XCTAssertFalse(cred.description.contains("pa55word"))
        // S3 endpoint: http only for loopback.
        for ok in ["http://127.0.0.1:5000", "http://127.1.2.3", "http://localhost:9000", "http://[::1]:9000", "https://s3.example.com"] {
            XCTAssertNoThrow(try ConfigLoader.parse(text: withSection("sink", "endpoint = \"\(ok)\""), sourcePath: "x"), ok)
        }
        for bad in ["http://10.0.0.1:9000", "http://s3.example.com", "http://127.0.0.1.evil.com", "http://localhost.evil.com", "http://[::2]"] {
            assertError(withSection("sink", "endpoint = \"\(bad)\""), key: "sink.endpoint", contains: "only for loopback")
        }
        assertError(withSection("sink", "endpoint = \"https://s3.example.com/bucket\""), key: "sink.endpoint", contains: "must not have a path")
        assertError(withSection("sink", "endpoint = \"s3://bucket\""), key: "sink.endpoint", contains: "http or https")
    }

    func testSinkRules() {
        assertError(withSection("sink", "kind = \"s3\""), key: "sink.bucket", contains: "kind = \"s3\" needs a bucket")
        assertError(withSection("sink", "kind = \"s3\"\nbucket = \"\""), key: "sink.bucket", contains: "3 to 63")
        assertError(withSection("sink", "bucket = \"My_Bucket\""), key: "sink.bucket", contains: "lowercase")
        assertError(withSection("sink", "bucket = \"-abc\""), key: "sink.bucket", contains: "start and end")
        assertError(withSection("sink", "bucket = \"192.168.1.1\""), key: "sink.bucket", contains: "IP address")
        for bad in ["US-EAST-1", "us_east_1", "useast1", "us-east", "eu-central-", "local"] {
            assertError(withSection("sink", "region = \"\(bad)\""), key: "sink.region", contains: "AWS region")
        }
        XCTAssertNoThrow(try ConfigLoader.parse(text: withSection("sink", "region = \"us-gov-west-1\""), sourcePath: "x"))
        assertError(withSection("sink", "prefix = \"/abs/\""), key: "sink.prefix", contains: "must not start with")
        assertError(withSection("sink", "storage_class = \"standard\""), key: "sink.storage_class", contains: "unknown S3 storage class")
        assertError(withSection("sink", "profile = \"my profile\""), key: "sink.profile", contains: "AWS profile name")
        assertError(withSection("sink", "path = \"\""), key: "sink.path", contains: "must not be empty")
        assertError(withSection("metrics", "namespace = \"AWS/Lambda\""), key: "metrics.namespace", contains: "reserved")
        assertError(withSection("metrics", "namespace = \"Spötify\""), key: "metrics.namespace", contains: "ASCII")
    }

    func testStateAndControlPaths() {
        assertError(withSection("state", "path = \"\""), key: "state.path", contains: "must not be empty")
        assertError(withSection("state", "path = \"   \""), key: "state.path", contains: "must not be empty")
        assertError(withSection("control", "socket = \"\""), key: "control.socket", contains: "must not be empty")
        let long = "/run/" + String(repeating: "x", count: 120) + ".sock"
        assertError(withSection("control", "socket = \"\(long)\""), key: "control.socket", contains: "limit is 107")
    }
}

final class ConfigRobustnessTests: XCTestCase {
    let minimal = "[[playlists]]\nid = \"37i9dQZF1DXcBWIGoYBM5M\"\n"

    /// Hostile or odd inputs end in a ConfigError (or a valid config), never a crash.
    func testOddInputsGiveErrorsNotCrashes() {
        let inputs = [
            "", "\u{FEFF}", "[", "[[", "]]]", "=", "a = ", "\"", String(repeating: "[", count: 5000),
            "x = " + String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000),
            "max = 99999999999999999999999", "a = 1979-05-27T07:32:00Z",
            minimal + "[schedule]\ninterval = 1979-05-27\n",
            minimal + "[schedule]\ninterval = 07:32:00\n",
            minimal + "[schedule]\njitter = inf\n",
            minimal + "[sink]\nmax_rows = 9223372036854775807\n",
            minimal + "[spotify]\nmarket = \"\\u0000US\"\n",
            "[[playlists]]\nid = \"" + String(repeating: "é", count: 100_000) + "\"\n",
            // These made toml++ abort on an internal assertion before TOMLHeaderGuard.
            "[[[", "[[ [a]]", "[[[playlists]]]", "[.a]", "[[.a]]", "[é]", "[[é]]", "[[\t[a]]", "[\\a]", "[\u{01}]", "[\u{FEFF}a]", "\u{FEFF}[[.a]]", minimal + "  [ .sink]\n",
        ]
        for text in inputs {
            do {
                _ = try ConfigLoader.parse(text: text, sourcePath: "odd.toml")
            } catch {
                XCTAssertEqual(error.file, "odd.toml")
                XCTAssertFalse(error.key.isEmpty, "\(error)")
                XCTAssertFalse(error.description.contains("\n"), "\(error)")
                XCTAssertLessThan(error.description.count, 600, "error stays short: \(error.description.prefix(200))")
            }
        }
        XCTAssertThrowsError(try ConfigLoader.parse(text: minimal + "[sink]\n[[[x]]]\n", sourcePath: "odd.toml")) { e in
            XCTAssertEqual((e as? ConfigError)?.key, "line 4, column 3")
        }
        // A "[." inside a multi-line string is not a header; nested arrays in values are fine for the guard.
        XCTAssertNil(TOMLHeaderGuard.firstBadHeader(in: "\u{FEFF}[sink]\n"))
        XCTAssertEqual(try? ConfigLoader.parse(text: "\u{FEFF}" + minimal, sourcePath: "bom.toml").playlists.count, 1)
        XCTAssertEqual(try? ConfigLoader.parse(text: minimal.replacingOccurrences(of: "\n", with: "\r\n"), sourcePath: "crlf.toml").playlists.count, 1)
        XCTAssertNil(TOMLHeaderGuard.firstBadHeader(in: "a = \"\"\"\n[.x\n\"\"\"\nb = [\n [1],\n]\n" + minimal))
        XCTAssertThrowsError(try ConfigLoader.parse(text: "", sourcePath: "odd.toml")) { e in
            XCTAssertEqual((e as? ConfigError)?.key, "playlists")
        }
        XCTAssertThrowsError(try ConfigLoader.parse(text: minimal + "[schedule]\ninterval = 1979-05-27\n", sourcePath: "odd.toml")) { e in
            XCTAssertEqual((e as? ConfigError)?.message, "expected a duration string such as \"15m\" or \"90s\", got a date")
        }
        XCTAssertThrowsError(try ConfigLoader.parse(text: minimal + "[schedule]\njitter = inf\n", sourcePath: "odd.toml")) { e in
            XCTAssertEqual((e as? ConfigError)?.key, "schedule.jitter")
        }
    }
}
