import ETLCore
import Foundation
import XCTest
@testable import ETLHealth

/// `status` and `status --json` print text that came from Spotify, S3 or the filesystem.
/// Neither may carry a raw terminal control (ESC sequences clear the screen or retitle the
/// window), a C1 control (0x9B is CSI on many terminals), a line separator, or a bidi
/// override that makes a line display in another order than it is stored.
final class StatusTerminalSafetyTests: XCTestCase {
    static let hostileName = "\u{1b}[2J\u{1b}]0;pwn\u{07}Top \u{202E}stiH\u{202C} \u{2066}x\u{2069}\u{9b}31m\u{2028}end\u{7f}"

    /// Scalars that must never reach a terminal raw.
    static func isDangerous(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x09, 0x0B...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    func hostileReport() -> StatusReport {
        var r = StatusReport(
            version: "0.1.0", uptimeS: 10, startedAt: "2026-11-25T09:00:00Z",
            playlists: [.init(id: "37i9dQZF1DXcBWIGoYBM5M", name: Self.hostileName, items: 3,
                              lastError: "HTTP 500: \u{1b}[31mboom\u{1b}[0m\nsecond line \u{202D}rtl"),
                        .init(id: "p\u{1b}c", name: "plain")],
            rateGate: .init(state: "throttled", until: nil, reason: "QUOTA\u{1b}[5m"),
            token: .init(state: "valid"),
            outbox: [.init(table: "tracks\u{85}", rows: 1)],
            pendingBatches: 0, lastUpload: .init(key: "k/\u{1b}]8;;http://evil\u{07}x", at: "2026-11-25T10:00:00Z"),
            watchdog: .init(state: "ok"), disk: .init(state: "ok"))
        r.sink = "s3://bucket/pre\u{2029}fix/"
        r.lastUploadError = .init(at: "2026-11-25T10:00:00Z", key: "a\u{9d}b", error: "SignatureDoesNotMatch \u{1b}[2K")
        r.health = .init(reasons: ["uploads failing (\u{1b}[1mSignatureDoesNotMatch)"])
        return r
    }

    func testTableEscapesEveryOutsideString() {
        let t = hostileReport().renderTable()
        let bad = t.unicodeScalars.filter { Self.isDangerous($0) }
        XCTAssertTrue(bad.isEmpty, "raw controls in the table: \(bad.map { String($0.value, radix: 16) })")
        // The text is still there, in visible escapes.
        XCTAssertTrue(t.contains(#"\u{1B}[2J\u{1B}]0;pwn\u{7}Top \u{202E}stiH\u{202C} \u{2066}x\u{2069}\u{9B}31m\u{2028}end\u{7F}"#), t)
        XCTAssertTrue(t.contains(#"HTTP 500: \u{1B}[31mboom\u{1B}[0m\nsecond line \u{202D}rtl"#), t)
        XCTAssertTrue(t.contains(#"p\u{1B}c"#), t)
        XCTAssertTrue(t.contains(#"tracks\u{85}"#), t)
        XCTAssertTrue(t.contains(#"s3://bucket/pre\u{2029}fix/"#), t)
        XCTAssertTrue(t.contains(#"(QUOTA\u{1B}[5m)"#), t)
        XCTAssertTrue(t.contains(#"a\u{9D}b: SignatureDoesNotMatch \u{1B}[2K"#), t)
        XCTAssertTrue(t.hasPrefix(#"degraded: uploads failing (\u{1B}[1mSignatureDoesNotMatch)"#), t)
        // Escaping keeps each playlist on one line.
        XCTAssertEqual(t.split(separator: "\n").filter { $0.hasPrefix("37i9dQ") }.count, 1, t)
    }

    func testJSONEscapesControlsC1LineSeparatorsAndBidiAndDecodesToTheSameReport() throws {
        let r = hostileReport()
        let line = r.jsonLine()
        let bad = line.unicodeScalars.filter { Self.isDangerous($0) || $0 == "\n" }
        XCTAssertTrue(bad.isEmpty, "raw controls in the JSON: \(bad.map { String($0.value, radix: 16) })")
        XCTAssertTrue(line.contains(#"\u001b[2J\u001b]0;pwn\u0007Top \u202estiH\u202c \u2066x\u2069\u009b31m\u2028end\u007f"#), line)
        XCTAssertTrue(line.contains(#"tracks\u0085"#), line)
        // Still JSON, and the same values: the escapes change the bytes, not the strings.
        let back = try JSONDecoder().decode(StatusReport.self, from: Data(line.utf8))
        XCTAssertEqual(back, r)
        XCTAssertEqual(back.playlists.first?.name, Self.hostileName)
    }

    func testTerminalSafeJSONLeavesOrdinaryTextAlone() {
        let plain = #"{"name":"Björk – 坂本龍一 🎵 \"quoted\" \\ back"}"#
        XCTAssertEqual(LogText.terminalSafeJSON(plain), plain)
        XCTAssertEqual(LogText.terminalSafeJSON("{\"a\":\"\u{202E}\"}"), #"{"a":"\u202e"}"#)
    }
}
