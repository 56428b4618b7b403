import ETLCore
import Foundation
import Logging
import XCTest
@testable import ETLHealth

final class JournalFieldsTests: XCTestCase {
    func testFieldNameSanitising() {
        XCTAssertEqual(JournalFields.fieldName("playlist_id"), "PLAYLIST_ID")
        XCTAssertEqual(JournalFields.fieldName("batch.key-name"), "BATCH_KEY_NAME")
        XCTAssertEqual(JournalFields.fieldName("_trusted"), "TRUSTED")
        XCTAssertEqual(JournalFields.fieldName("9lives"), "LIVES")
        XCTAssertEqual(JournalFields.fieldName("_1_x"), "X")
        XCTAssertEqual(JournalFields.fieldName("message"), "META_MESSAGE")
        XCTAssertEqual(JournalFields.fieldName("priority"), "META_PRIORITY")
        XCTAssertNil(JournalFields.fieldName(""))
        XCTAssertNil(JournalFields.fieldName("__"))
        XCTAssertEqual(JournalFields.fieldName(String(repeating: "a", count: 100))?.count, 64)
    }

    func testBuildFields() {
        let f = JournalFields.build(level: .error, message: "upload failed\nsecond line Bearer sekrit-token-value",
                                    metadata: ["playlist_id": "37i9dQ", "error": "HTTP 403 \"nope\"", "spotifyd_emf": "1",
                                               "count": .stringConvertible(3)],
                                    file: "Sources/X.swift", function: "run()", line: 42)
        XCTAssertEqual(f[0], "MESSAGE=upload failed\nsecond line Bearer [REDACTED]")
        XCTAssertEqual(Array(f[1...5]), ["PRIORITY=3", "SYSLOG_IDENTIFIER=spotifyd-etl-metrics", "CODE_FILE=Sources/X.swift",
                                         "CODE_LINE=42", "CODE_FUNC=run()"])
        XCTAssertEqual(Array(f[6...]), ["COUNT=3", "ERROR=HTTP 403 \"nope\"", "PLAYLIST_ID=37i9dQ", "SPOTIFYD_EMF=1"])
    }

    /// The log and the EMF documents go under two identifiers: `journalctl -t spotifyd-etl`
    /// reads the log without metrics JSON, `-t spotifyd-etl-metrics` only the metrics.
    func testIdentifierSeparatesMetricsFromTheLog() {
        func identifier(_ metadata: Logger.Metadata, _ id: String = JournalFields.defaultIdentifier,
                        _ metricsID: String = JournalFields.metricsIdentifier) -> String? {
            JournalFields.build(level: .info, message: "m", metadata: metadata, file: "f", function: "g", line: 1,
                                identifier: id, metricsIdentifier: metricsID)
                .first { $0.hasPrefix("SYSLOG_IDENTIFIER=") }.map { String($0.dropFirst("SYSLOG_IDENTIFIER=".count)) }
        }
        XCTAssertEqual(identifier([:]), "spotifyd-etl")
        XCTAssertEqual(identifier(["playlist_id": "p"]), "spotifyd-etl")
        XCTAssertEqual(identifier(["spotifyd_emf": "1"]), "spotifyd-etl-metrics")
        XCTAssertEqual(identifier(["spotifyd_emf": .stringConvertible(1)]), "spotifyd-etl-metrics")
        XCTAssertEqual(identifier(["spotifyd_emf": "0"]), "spotifyd-etl", "only the value 1 marks an EMF document")
        XCTAssertEqual(identifier(["spotifyd_emf": "1"], "x", "x-metrics"), "x-metrics")
        XCTAssertEqual(JournaldLogHandler(label: "t").identifier, "spotifyd-etl")
        XCTAssertEqual(JournaldLogHandler(label: "t").metricsIdentifier, "spotifyd-etl-metrics")
        // Exactly one SYSLOG_IDENTIFIER field either way.
        let f = JournalFields.build(level: .info, message: "{}", metadata: ["spotifyd_emf": "1", "syslog_identifier": "x"],
                                    file: "f", function: "g", line: 1)
        XCTAssertEqual(f.filter { $0.hasPrefix("SYSLOG_IDENTIFIER=") }, ["SYSLOG_IDENTIFIER=spotifyd-etl-metrics"])
        XCTAssertTrue(f.contains("META_SYSLOG_IDENTIFIER=x"))
    }

    func testPriorities() {
        XCTAssertEqual(Logger.Level.allCases.map(JournalFields.priority), [7, 7, 6, 5, 4, 3, 2])
    }

    func testSendvDeliversNativeEntry() throws {
        // libsystemd hard-codes the journal socket path. When this machine has no journald,
        // stand in for it (as root) with a real datagram socket there and read the entry.
        let dir = "/run/systemd/journal", path = dir + "/socket"
        guard access(path, F_OK) != 0 else {
            XCTAssertEqual(JournalFields.send(["MESSAGE=spotifyd-etl test probe", "PRIORITY=7"]), 0)
            return
        }
        var created: [String] = []
        for d in ["/run/systemd", dir] where access(d, F_OK) != 0 {
            XCTAssertEqual(mkdir(d, 0o755), 0, "need root to stand in for journald at \(d)")
            created.insert(d, at: 0)
        }
        let rx = try DatagramSocket(path: path)
        defer { rx.close(); unlink(path); for d in created { rmdir(d) } }

        let out = withStderrRedirected { _ in
            let h = JournaldLogHandler(label: "t")
            h.log(event: LogEvent(level: .warning, message: "line one\nline two", metadata: ["playlist_id": "p1"],
                                  source: "t", file: "F.swift", function: "g()", line: 7))
        }
        XCTAssertEqual(out, "", "delivered natively, nothing on stderr")
        let entry = try XCTUnwrap(rx.receive(timeout: 2))
        let fields = try XCTUnwrap(JournalWire.parse(entry))
        XCTAssertEqual(fields["MESSAGE"], "line one\nline two")
        XCTAssertEqual(fields["PRIORITY"], "4")
        XCTAssertEqual(fields["SYSLOG_IDENTIFIER"], "spotifyd-etl")
        XCTAssertEqual(fields["PLAYLIST_ID"], "p1")
        XCTAssertEqual(fields["CODE_LINE"], "7")
        XCTAssertEqual(fields["CODE_FUNC"], "g()")

        // An EMF document: same socket, its own identifier, the JSON as MESSAGE.
        _ = withStderrRedirected { _ in
            JournaldLogHandler(label: "t").log(event: LogEvent(level: .info, message: "{\"a\":1}", metadata: ["spotifyd_emf": "1"],
                                                               source: "t", file: "F.swift", function: "g()", line: 8))
        }
        let emf = try XCTUnwrap(JournalWire.parse(try XCTUnwrap(rx.receive(timeout: 2))))
        XCTAssertEqual(emf["SYSLOG_IDENTIFIER"], "spotifyd-etl-metrics")
        XCTAssertEqual(emf["SPOTIFYD_EMF"], "1")
        XCTAssertEqual(emf["MESSAGE"], "{\"a\":1}")
    }
}

final class StderrLogHandlerTests: XCTestCase {
    func testFormat() {
        let line = StderrLogHandler.formatLine(level: .warning, message: "upload failed\nretrying",
                                               metadata: ["key": "playlists/dt=2026-01-01/x.ndjson.gz", "reason": "disk full",
                                                          "empty": "", "q": "say \"hi\"", "url": "https://x/?access_token=abc123&a=1"])
        XCTAssertEqual(line, "<4>warning upload failed\\nretrying empty=\"\" key=\"playlists/dt=2026-01-01/x.ndjson.gz\" q=\"say \\\"hi\\\"\" reason=\"disk full\" url=\"https://x/?access_token=[REDACTED]&a=1\"")
        XCTAssertEqual(StderrLogHandler.formatLine(level: .info, message: "polled", metadata: ["playlist_id": "abc"]),
                       "<6>info polled playlist_id=abc")
        XCTAssertEqual(StderrLogHandler.formatLine(level: .info, message: "{\"a\":1}", metadata: ["spotifyd_emf": "1"]),
                       "<6>{\"a\":1}")
    }

    /// User text inside a message (a playlist name) can neither break the line, forge a
    /// second `<N>` line, nor send terminal escape sequences.
    func testEscapesControlCharactersInMessages() {
        XCTAssertEqual(StderrLogHandler.formatLine(level: .info, message: "snapshot committed: playlist p \"a\u{1B}[31mb\tc\u{0}\"",
                                                   metadata: ["playlist_name": "x\ny\u{7}"]),
                       "<6>info snapshot committed: playlist p \"a\\u{1B}[31mb\\tc\\u{0}\" playlist_name=x\\ny\\u{7}")
        XCTAssertEqual(StderrLogHandler.formatLine(level: .info, message: "a\r\n<3>error forged\u{2028}\u{202E}drow", metadata: [:]),
                       "<6>info a\\r\\n<3>error forged\\u{2028}\\u{202E}drow")
        XCTAssertEqual(StderrLogHandler.formatLine(level: .info, message: "🎧 夜の音楽 Café مزيج", metadata: [:]),
                       "<6>info 🎧 夜の音楽 Café مزيج")
        // The EMF form stays the bare JSON (one line; JSON has no raw controls anyway).
        XCTAssertEqual(StderrLogHandler.formatLine(level: .info, message: "{\"n\":\"a\\nb\"}", metadata: ["spotifyd_emf": "1"]),
                       "<6>{\"n\":\"a\\nb\"}")
    }

    func testWritesFlushedLinesToFD2() {
        let out = withStderrRedirected { _ in
            var logger = Logger(label: "t") { StderrLogHandler(label: $0, secrets: ["hunter2-secret"]) }
            logger.logLevel = .debug
            logger[metadataKey: "component"] = "scheduler"
            logger.debug("token hunter2-secret refreshed")
            logger.critical("boom", metadata: ["playlist_id": "p 1"])
        }
        XCTAssertEqual(out, "<7>debug token [REDACTED] refreshed component=scheduler\n<2>critical boom component=scheduler playlist_id=\"p 1\"\n")
    }
}

final class LogBackendTests: XCTestCase {
    func testDetectMatchesOnlyWhenStderrIsTheJournalStream() {
        _ = withStderrRedirected { path in
            var st = stat()
            XCTAssertEqual(stat(path, &st), 0)
            let stream = "\(st.st_dev):\(st.st_ino)"
            XCTAssertEqual(LogBackend.detect(environment: ["JOURNAL_STREAM": stream]), .journald)
            XCTAssertEqual(LogBackend.detect(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"]), .stderr)
            XCTAssertEqual(LogBackend.detect(environment: ["JOURNAL_STREAM": "garbage"]), .stderr)
            XCTAssertEqual(LogBackend.detect(environment: [:]), .stderr)
        }
        // After restoring fd 2 the same value no longer matches: inherited env is not enough.
        XCTAssertNil(LogBackend.parseJournalStream("1:"))
        XCTAssertEqual(LogBackend.parseJournalStream("8:12345").map { [$0.0, $0.1] }, [8, 12345])
    }

    func testHandlerKinds() {
        XCTAssertTrue(LogBackend.journald.makeHandler(label: "x") is JournaldLogHandler)
        XCTAssertTrue(LogBackend.stderr.makeHandler(label: "x") is StderrLogHandler)
    }
}

/// Parses journald's native datagram: `KEY=value\n`, or `KEY\n<u64le length><bytes>\n` for
/// values containing newlines.
enum JournalWire {
    static func parse(_ d: [UInt8]) -> [String: String]? {
        var out: [String: String] = [:]
        var i = 0
        while i < d.count {
            guard let nl = d[i...].firstIndex(of: 0x0A) else { return nil }
            let head = d[i..<nl]
            if let eq = head.firstIndex(of: UInt8(ascii: "=")) {
                out[String(decoding: d[i..<eq], as: UTF8.self)] = String(decoding: d[(eq + 1)..<nl], as: UTF8.self)
                i = nl + 1
            } else {
                let key = String(decoding: head, as: UTF8.self)
                guard nl + 9 <= d.count else { return nil }
                var len = 0
                for k in 0..<8 { len |= Int(d[nl + 1 + k]) << (8 * k) }
                let start = nl + 9
                guard start + len < d.count else { return nil }
                out[key] = String(decoding: d[start..<(start + len)], as: UTF8.self)
                i = start + len + 1
            }
        }
        return out
    }
}

/// A bound AF_UNIX datagram socket at a filesystem path.
final class DatagramSocket {
    let fd: Int32
    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = try ControlServer.address(path)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { throw POSIXError(.EADDRINUSE) }
    }
    func close() { _ = Glibc.close(fd) }
    func receive(timeout: Double) -> [UInt8]? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buf[0..<n]) : nil
    }
}

final class LogLevelSettingTests: XCTestCase {
    func testParse() {
        XCTAssertEqual(["debug", "info", "notice", "warning", "error"].map(LogLevelSetting.parse),
                       [.debug, .info, .notice, .warning, .error])
        XCTAssertEqual(LogLevelSetting.parse(" DEBUG\n"), .debug)
        XCTAssertNil(LogLevelSetting.parse("trace"), "not offered")
        XCTAssertNil(LogLevelSetting.parse("critical"), "not offered")
        XCTAssertNil(LogLevelSetting.parse("verbose"))
        XCTAssertNil(LogLevelSetting.parse(""))
    }

    func testFlagWinsOverEnvironmentWhichWinsOverDefault() throws {
        let key = LogLevelSetting.environmentVariable
        XCTAssertEqual(key, "SPOTIFYD_ETL_LOG_LEVEL")
        XCTAssertEqual(try LogLevelSetting.resolve(flag: nil, environment: [:]), .info)
        XCTAssertEqual(try LogLevelSetting.resolve(flag: nil, environment: [key: ""]), .info)
        XCTAssertEqual(try LogLevelSetting.resolve(flag: nil, environment: [key: "warning"]), .warning)
        XCTAssertEqual(try LogLevelSetting.resolve(flag: .debug, environment: [key: "warning"]), .debug)
        XCTAssertEqual(try LogLevelSetting.resolve(flag: .error, environment: [key: "nonsense"]), .error,
                       "the flag overrides even an invalid environment value")
        XCTAssertThrowsError(try LogLevelSetting.resolve(flag: nil, environment: [key: "loud"])) { e in
            XCTAssertEqual("\(e)", "SPOTIFYD_ETL_LOG_LEVEL: invalid log level \"loud\"; accepted: debug, info, notice, warning, error")
        }
    }
}
