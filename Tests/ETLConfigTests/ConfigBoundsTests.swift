import ETLTestSupport
import Foundation
import XCTest
@testable import ETLConfig

/// Every documented bound of `ConfigBounds`: the value just outside is refused with the typed
/// violation and a one-line message naming the key; the value on the bound is accepted.
final class ConfigBoundsTests: XCTestCase {
    static let id = "37i9dQZF1DXcBWIGoYBM5M"

    /// A minimal valid config plus `section` (a TOML fragment with its own header).
    func config(_ section: String) -> String { "[[playlists]]\nid = \"\(Self.id)\"\n" + section + "\n" }

    func parse(_ text: String) throws(ConfigError) -> AppConfig {
        try ConfigLoader.parse(text: text, sourcePath: "/etc/bounds.toml")
    }

    struct Case {
        let toml: String
        let key: String
        let violation: ConfigViolation
        /// Text of the bound the message must name.
        let bound: String
    }

    func check(_ cases: [Case], file: StaticString = #filePath, line: UInt = #line) {
        for c in cases {
            do {
                _ = try parse(config(c.toml))
                XCTFail("accepted: \(c.toml)", file: file, line: line)
            } catch {
                XCTAssertEqual(error.violation, c.violation, "\(c.toml): \(error)", file: file, line: line)
                XCTAssertEqual(error.key, c.key, "\(c.toml): \(error)", file: file, line: line)
                XCTAssertTrue(error.description.hasPrefix("/etc/bounds.toml: \(c.key): "), "\(error)", file: file, line: line)
                XCTAssertTrue(error.message.contains(c.bound), "\(error) should name the bound \(c.bound)", file: file, line: line)
                XCTAssertFalse(error.description.contains("\n"), "one line: \(error)", file: file, line: line)
            }
        }
    }

    // MARK: durations

    func testEveryDurationKeyHasItsMinimum() {
        let tooShort: [(section: String, key: String, value: String, minimum: Double, bound: String)] = [
            ("[spotify]", "spotify.request_timeout", "0.5ms", ConfigBounds.requestTimeoutMinimum, "1s"),
            ("[spotify]", "spotify.request_timeout", "999ms", ConfigBounds.requestTimeoutMinimum, "1s"),
            ("[schedule]", "schedule.interval", "9s", ConfigBounds.pollIntervalMinimum, "10s"),
            ("[schedule]", "schedule.interval", "500ms", ConfigBounds.pollIntervalMinimum, "10s"),
            ("[sink]", "sink.max_age", "500ms", ConfigBounds.maxAgeMinimum, "1s"),
            ("[metrics]", "metrics.interval", "1ms", ConfigBounds.metricsIntervalMinimum, "1s"),
        ]
        check(tooShort.map { t in
            let k = String(t.key.split(separator: ".").last!)
            return Case(toml: "\(t.section)\n\(k) = \"\(t.value)\"", key: t.key,
                        violation: .durationBelowMinimum(minimum: t.minimum), bound: "minimum of \(t.bound)")
        })
        // A per-playlist interval has the poll minimum too, named by its array index.
        check([Case(toml: "[[playlists]]\nid = \"37i9dQZF1DX0XUsuxWHRQd\"\ninterval = \"3s\"", key: "playlists[1].interval",
                    violation: .durationBelowMinimum(minimum: ConfigBounds.pollIntervalMinimum), bound: "minimum of 10s")])
        // Too long is its own typed violation.
        check([Case(toml: "[metrics]\ninterval = \"31d\"", key: "metrics.interval",
                    violation: .durationAboveMaximum(maximum: ConfigBounds.durationMaximum), bound: "at most 30d")])
    }

    func testDurationsOnTheBoundAreAccepted() throws {
        let c = try parse(config("""
        [spotify]
        request_timeout = "1s"
        [schedule]
        interval = "10s"
        [sink]
        max_age = "1s"
        [metrics]
        interval = "1000ms"
        """))
        XCTAssertEqual(c.spotify.requestTimeout, 1)
        XCTAssertEqual(c.schedule.interval, 10)
        XCTAssertEqual(c.sink.maxAge, 1)
        XCTAssertEqual(c.metrics.interval, 1)
        let p = try parse(config("[[playlists]]\nid = \"37i9dQZF1DX0XUsuxWHRQd\"\ninterval = \"10s\""))
        XCTAssertEqual(p.playlists.last?.interval, 10)
        XCTAssertEqual(try parse(config("[sink]\nmax_age = \"30d\"")).sink.maxAge, ConfigBounds.durationMaximum)
    }

    // MARK: S3 prefix

    func testPrefixWithEmptyOrDotSegmentsIsRefused() {
        let bad: [(prefix: String, rule: String)] = [
            ("a//b", "empty segment"), ("./x", "\".\" segment"), ("x/../y", "\"..\" segment"), ("/x", "must not start with \"/\""),
            ("x/.", "\".\" segment"), ("..", "\"..\" segment"), ("a/b//", "empty segment"), ("//", "must not start with \"/\""),
            ("x/./", "\".\" segment"), ("../x/", "\"..\" segment"),
        ]
        check(bad.map { Case(toml: "[sink]\nprefix = \"\($0.prefix)\"", key: "sink.prefix", violation: .prefixSegment, bound: $0.rule) })
    }

    func testPrefixWithOneTrailingSlashOrNoneIsNormalised() throws {
        for (written, stored) in [("spotify", "spotify/"), ("spotify/", "spotify/"), ("a/b", "a/b/"), ("a/b/", "a/b/"),
                                  ("", ""), ("a.b/..c/d..", "a.b/..c/d../")] {
            XCTAssertEqual(try parse(config("[sink]\nprefix = \"\(written)\"")).sink.s3.prefix, stored, written)
        }
    }

    // MARK: multipart threshold

    func testMultipartThresholdStaysWithinS3Limits() throws {
        let range = ConfigBounds.multipartThresholdMinimum...ConfigBounds.multipartThresholdMaximum
        check([
            Case(toml: "[sink]\nmultipart_threshold = \"4MiB\"", key: "sink.multipart_threshold",
                 violation: .sizeOutOfRange(range), bound: "at least 5MiB"),
            Case(toml: "[sink]\nmultipart_threshold = \(5 << 20 - 1)", key: "sink.multipart_threshold",
                 violation: .sizeOutOfRange(range), bound: "at least 5MiB"),
            Case(toml: "[sink]\nmultipart_threshold = \(5 << 30 + 1)", key: "sink.multipart_threshold",
                 violation: .sizeOutOfRange(range), bound: "at most 5GiB"),
            Case(toml: "[sink]\nmultipart_threshold = \"6GiB\"", key: "sink.multipart_threshold",
                 violation: .sizeOutOfRange(range), bound: "at most 5GiB"),
        ])
        XCTAssertEqual(try parse(config("[sink]\nmultipart_threshold = \"5MiB\"")).sink.s3.multipartThreshold, 5 << 20)
        XCTAssertEqual(try parse(config("[sink]\nmultipart_threshold = \"5GiB\"")).sink.s3.multipartThreshold, 5 << 30)
    }

    // MARK: the real binary

    /// `check-config` prints the one line and exits 78 for a timeout that used to mean "none".
    func testCheckConfigExits78NamingTheKeyAndTheBound() throws {
        let binary = TestSupport.packageRoot + "/.build/debug/spotifyd-etl"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary), "build the binary first")
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("bounds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("c.toml").path
        try config("[spotify]\nrequest_timeout = \"0.5ms\"").write(toFile: path, atomically: true, encoding: .utf8)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["check-config", "--config", path]
        var env = ProcessInfo.processInfo.environment
        env["SPOTIFY_CLIENT_ID"] = "id"
        env["SPOTIFY_CLIENT_SECRET"] = "secret"
        env.removeValue(forKey: "CREDENTIALS_DIRECTORY")
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 78, text)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, text)
        XCTAssertEqual(lines.first.map(String.init),
                       "\(path): spotify.request_timeout: duration \"0.5ms\" is below the minimum of 1s")
    }
}
