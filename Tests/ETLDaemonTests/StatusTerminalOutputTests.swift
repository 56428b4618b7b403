import ETLTestSupport
import Foundation
import XCTest

/// A playlist name from Spotify reaches `spotifyd-etl status` through the real daemon: the
/// table and `--json` printed on the operator's terminal carry no raw escape sequence, BEL or
/// bidi override, and the JSON still decodes to the name Spotify sent.
final class StatusTerminalOutputTests: XCTestCase {
    static let hostile = "\u{1b}[2J\u{1b}]0;pwn\u{07}Mix \u{202E}olleh\u{202C} \u{9b}1m"

    func testHostilePlaylistNameIsEscapedInStatusAndStatusJSON() throws {
        let h = try Harness(.init(scenario: "small"))
        let created = try h.emulator.createPlaylist(name: Self.hostile, items: 3)
        let id = try XCTUnwrap(created["id"] as? String)
        h.playlistIDs = [id]
        try h.writeConfig()
        let socket = h.dir.appendingPathComponent("control.sock").path
        let (daemon, _, err) = try h.launch(["run", "--config", h.configURL.path])
        defer {
            if daemon.isRunning { kill(daemon.processIdentifier, SIGTERM) }
            daemon.waitUntilExit()
        }

        // Wait for the first poll to record the name.
        var json: [String: Any]?
        for _ in 0..<150 {
            if let r = try? h.run(["status", "--json", "--socket", socket]),
               let obj = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
               let pls = obj["playlists"] as? [[String: Any]], pls.first?["name"] is String {
                json = obj
                break
            }
            usleep(200_000)
        }
        let status = try XCTUnwrap(json, "the playlist was never polled: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        let name = (status["playlists"] as? [[String: Any]])?.first?["name"] as? String
        XCTAssertEqual(name, Self.hostile, "the JSON must decode to the name Spotify sent")

        let raw = try h.run(["status", "--json", "--socket", socket]).stdout
        let table = try h.run(["status", "--socket", socket]).stdout
        for (label, text) in [("status --json", raw), ("status", table)] {
            let bad = text.unicodeScalars.filter {
                ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) || (0x202A...0x202E).contains($0.value)
                    || (0x2066...0x2069).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029
            }
            XCTAssertTrue(bad.isEmpty, "\(label) printed raw controls \(bad.map { String($0.value, radix: 16) }): \(text)")
        }
        XCTAssertTrue(raw.contains(#"\u001b[2J\u001b]0;pwn\u0007Mix \u202eolleh\u202c \u009b1m"#), raw)
        XCTAssertTrue(table.contains(#"\u{1B}[2J\u{1B}]0;pwn\u{7}Mix \u{202E}olleh\u{202C} \u{9B}1m"#), table)
    }
}
