import ETLCore
import XCTest
@testable import ETLHealth

final class SystemdNotifierTests: XCTestCase {
    func testDatagramsReachTheNotifySocket() throws {
        let rx = try NotifyReceiver()
        let n = SystemdNotifier()
        XCTAssertTrue(n.isEnabled)

        XCTAssertTrue(n.ready())
        XCTAssertEqual(rx.receive(timeout: 2), "READY=1")

        n.status("polling 3 playlists\nnext at 12:00Z access_token=abcdef123")
        let status = try XCTUnwrap(rx.receive(timeout: 2))
        XCTAssertTrue(status.hasPrefix("STATUS=polling 3 playlists next at 12:00Z"), status)
        XCTAssertFalse(status.contains("\n"))
        XCTAssertFalse(status.contains("abcdef123"), "secrets must be redacted: \(status)")

        let before = SystemdNotifier.monotonicMicroseconds()
        n.reloading()
        let reload = try XCTUnwrap(rx.receive(timeout: 2))
        let lines = reload.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "RELOADING=1")
        let mono = try XCTUnwrap(lines.first { $0.hasPrefix("MONOTONIC_USEC=") }.flatMap { UInt64($0.dropFirst(15)) })
        XCTAssertGreaterThanOrEqual(mono, before)
        XCTAssertLessThanOrEqual(mono, SystemdNotifier.monotonicMicroseconds())

        n.extendTimeout(usec: 30_000_000)
        XCTAssertEqual(rx.receive(timeout: 2), "EXTEND_TIMEOUT_USEC=30000000")

        n.watchdogPing()
        XCTAssertEqual(rx.receive(timeout: 2), "WATCHDOG=1")

        n.stopping()
        XCTAssertEqual(rx.receive(timeout: 2), "STOPPING=1")
    }

    func testNoOpWithoutNotifySocket() {
        unsetenv("NOTIFY_SOCKET")
        let n = SystemdNotifier()
        XCTAssertFalse(n.isEnabled)
        XCTAssertFalse(n.ready())
        XCTAssertFalse(n.watchdogPing())
    }

    func testWatchdogIntervalFromEnvironment() {
        setenv("WATCHDOG_USEC", "3000000", 1)
        unsetenv("WATCHDOG_PID")
        XCTAssertEqual(SystemdNotifier().watchdogInterval(), .seconds(3))
        setenv("WATCHDOG_PID", "1", 1)  // meant for another process
        XCTAssertNil(SystemdNotifier().watchdogInterval())
        setenv("WATCHDOG_PID", String(getpid()), 1)
        XCTAssertEqual(SystemdNotifier().watchdogInterval(), .seconds(3))
        unsetenv("WATCHDOG_USEC")
        unsetenv("WATCHDOG_PID")
        XCTAssertNil(SystemdNotifier().watchdogInterval())
    }
}
