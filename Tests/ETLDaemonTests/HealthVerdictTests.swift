import ETLDaemon
import ETLHealth
import Foundation
import XCTest

/// Every state `status` exits 1 for, one at a time, and the healthy case.
final class HealthVerdictTests: XCTestCase {
    let base = HealthInputs(maxAge: 60, retryCadence: 5)

    func testHealthy() {
        var i = base
        i.oldestOutboxAge = 124  // within 2 × 60 + 5
        XCTAssertEqual(HealthVerdict.reasons(i), [])
        XCTAssertTrue(StatusReport.Health(reasons: HealthVerdict.reasons(i)).isHealthy)
    }

    func testEachDegradedStateNamesItsReason() {
        let until = Date(timeIntervalSince1970: 1_800_000_000)
        let cases: [(String, (inout HealthInputs) -> Void)] = [
            ("uploads failing since 2026-12-02T10:00:00Z: SignatureDoesNotMatch: x",
             { $0.uploadError = .init(at: "2026-12-02T10:00:00Z", key: "k", error: "SignatureDoesNotMatch: x") }),
            ("watchdog: stalled: flusher since 10:03Z", { $0.watchdogHealthy = false; $0.watchdogState = "stalled: flusher since 10:03Z" }),
            ("state storage: state database /s: disk full", { $0.storage = "state database /s: disk full" }),
            ("refresh token expired: re-run `spotifyd-etl login`", { $0.refreshTokenExpired = true }),
            ("parked on the Spotify quota until 2027-01-15T08:00:00Z", { $0.quotaParkedUntil = until }),
            ("outbox oldest row is 2m6s old (more than 2 × max_age + retry cadence = 2m5s)", { $0.oldestOutboxAge = 126 }),
        ]
        for (want, apply) in cases {
            var i = base
            apply(&i)
            XCTAssertEqual(HealthVerdict.reasons(i), [want])
            let h = StatusReport.Health(reasons: HealthVerdict.reasons(i))
            XCTAssertEqual(h.state, "degraded")
            XCTAssertEqual(h.line, "degraded: " + want)
        }
    }

    /// While uploads back off, the outbox may be that much older before it counts.
    func testRetryCadenceWidensTheOutboxLimit() {
        var i = HealthInputs(maxAge: 60, retryCadence: 300)
        i.oldestOutboxAge = 400
        XCTAssertEqual(HealthVerdict.reasons(i), [])
        i.oldestOutboxAge = 421
        XCTAssertEqual(HealthVerdict.reasons(i).count, 1)
    }
}
