import ETLDaemon
import ETLHealth
import Foundation
import XCTest

/// Dead letters degrade health and show in the table and JSON, so an operator notices them.
final class DeadLetterStatusTests: XCTestCase {
    func testDeadLettersDegradeAndAreShown() throws {
        let d = StatusReport.DeadLetters(count: 2, directory: "/var/lib/spotifyd-etl/dead-letter",
                                         latestKey: "tracks/dt=2026-12-02/tracks-000000000007.ndjson.gz",
                                         latestReason: "outbox row 3: undecodable payload")
        var inputs = HealthInputs(maxAge: 60, retryCadence: 30)
        XCTAssertEqual(HealthVerdict.reasons(inputs), [])
        inputs.deadLetters = d
        let reasons = HealthVerdict.reasons(inputs)
        XCTAssertEqual(reasons.count, 1)
        XCTAssertTrue(reasons[0].hasPrefix("2 batches quarantined in /var/lib/spotifyd-etl/dead-letter (latest: tracks/"), reasons[0])

        var report = StatusReport(version: "t", uptimeS: 1, startedAt: "2026-12-02T00:00:00Z", playlists: [],
                                  rateGate: .init(state: "free"), token: .init(state: "valid"), outbox: [], pendingBatches: 0,
                                  watchdog: .init(state: "ok"))
        report.deadLetters = d
        report.health = StatusReport.Health(reasons: reasons)
        XCTAssertTrue(report.renderTable().contains("dead letters    2 batches quarantined in /var/lib/spotifyd-etl/dead-letter"))
        let json = try JSONSerialization.jsonObject(with: Data(report.jsonLine().utf8)) as! [String: Any]
        let dl = json["dead_letters"] as! [String: Any]
        XCTAssertEqual(dl["count"] as? Int, 2)
        XCTAssertEqual(dl["latest_reason"] as? String, "outbox row 3: undecodable payload")
        XCTAssertEqual(try JSONDecoder().decode(StatusReport.self, from: Data(report.jsonLine().utf8)).deadLetters, d)
    }
}
