import ETLHTTP
import ETLTestSupport
import Foundation
import XCTest

/// Proves the shared launcher works: a real emulator process, a real token over libcurl,
/// a real API call, and the control plane's request counting.
final class EmulatorLauncherTests: XCTestCase {
    func testLaunchFetchTokenAndReadPlaylist() throws {
        let emu = try SpotifyEmulatorProcess(scenario: "small")
        defer { emu.stop() }
        XCTAssertGreaterThan(emu.port, 0)
        XCTAssertEqual(emu.apiURL, "http://127.0.0.1:\(emu.port)/v1")

        let http = CurlHTTPClient()
        let basic = Data("test-client:test-secret".utf8).base64EncodedString()
        let tokenResp = try http.send(HTTPRequest(
            method: "POST", url: emu.accountsURL + "/api/token",
            headers: [("Authorization", "Basic \(basic)"), ("Content-Type", "application/x-www-form-urlencoded")],
            body: Data("grant_type=client_credentials".utf8)))
        XCTAssertEqual(tokenResp.status, 200)
        let tokenObj = try XCTUnwrap(try JSONSerialization.jsonObject(with: tokenResp.body) as? [String: Any])
        let token = try XCTUnwrap(tokenObj["access_token"] as? String)
        XCTAssertEqual(tokenObj["expires_in"] as? Int, 3600)

        let ids = try emu.playlistIDs()
        XCTAssertGreaterThanOrEqual(ids.count, 5)
        let resp = try http.send(HTTPRequest(url: emu.apiURL + "/playlists/\(ids[0])/items?limit=2",
                                             headers: [("Authorization", "Bearer \(token)")]))
        XCTAssertEqual(resp.status, 200)
        let page = try XCTUnwrap(try JSONSerialization.jsonObject(with: resp.body) as? [String: Any])
        XCTAssertEqual((page["items"] as? [Any])?.count, 2)
        XCTAssertNotNil(page["next"] as? String)

        let stats = try emu.stats()
        let byRoute = try XCTUnwrap(stats["by_route"] as? [String: Any])
        XCTAssertEqual(byRoute["token"] as? Int, 1)
        XCTAssertEqual(byRoute["items"] as? Int, 1)

        // Mutation changes the snapshot the truth reports.
        let before = try emu.mutate(ids[0], [["op": "rename", "name": "Renamed"]])
        let truth = try emu.truth()
        let pls = try XCTUnwrap(truth["playlists"] as? [[String: Any]])
        XCTAssertEqual(pls[0]["snapshot_id"] as? String, before["snapshot_id"] as? String)
        XCTAssertEqual(pls[0]["name"] as? String, "Renamed")

        // A stopped emulator refuses connections.
        let port = emu.port
        emu.stop()
        XCTAssertThrowsError(try http.send(HTTPRequest(url: "http://127.0.0.1:\(port)/_emulator/health", timeout: 3)))
    }

    func testStartFailureIsReported() {
        XCTAssertThrowsError(try SpotifyEmulatorProcess(options: .init(scenario: "no-such-scenario"), startTimeout: 10)) { error in
            XCTAssertTrue(String(describing: error).contains("did not start"))
        }
    }
}
