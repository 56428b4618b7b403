import ETLCore
import XCTest
@testable import ETLHealth

/// The pure decision, no timers.
final class WatchdogDecisionTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func testAllProgressingIsHealthy() {
        let cs = [WatchdogComponentState(name: "scheduler", lastProgress: t0.addingTimeInterval(-5)),
                  WatchdogComponentState(name: "flusher", lastProgress: t0.addingTimeInterval(-29), lastHeartbeat: t0)]
        XCTAssertEqual(ProgressWatchdog.decide(components: cs, now: t0, staleness: 30), .healthy)
    }

    func testStaleComponentStalls() {
        let since = t0.addingTimeInterval(-31)
        let cs = [WatchdogComponentState(name: "scheduler", lastProgress: t0),
                  WatchdogComponentState(name: "flusher", lastProgress: since)]
        let v = ProgressWatchdog.decide(components: cs, now: t0, staleness: 30)
        XCTAssertEqual(v, .stalled(component: "flusher", since: since))
        XCTAssertTrue(v.description.hasPrefix("stalled: flusher since "), v.description)
        XCTAssertTrue(v.description.hasSuffix("Z"))
    }

    func testIdleWithoutDeadlineIsAlive() {
        let cs = [WatchdogComponentState(name: "scheduler", lastProgress: t0.addingTimeInterval(-3600), idle: true)]
        XCTAssertEqual(ProgressWatchdog.decide(components: cs, now: t0, staleness: 30), .healthy)
    }

    func testLongRetryAfterParkIsAliveUntilItShouldHaveEnded() {
        let until = t0.addingTimeInterval(7200)
        var c = WatchdogComponentState(name: "scheduler", lastProgress: t0.addingTimeInterval(-3600), idle: true, idleUntil: until)
        XCTAssertEqual(ProgressWatchdog.decide(components: [c], now: t0, staleness: 30), .healthy)
        // Deadline passed long ago and nothing happened: the park never ended → stalled.
        XCTAssertEqual(ProgressWatchdog.decide(components: [c], now: until.addingTimeInterval(31), staleness: 30),
                       .stalled(component: "scheduler", since: until))
        c.idleUntil = t0
        XCTAssertEqual(ProgressWatchdog.decide(components: [c], now: t0.addingTimeInterval(20), staleness: 30), .healthy)
    }

    func testDeadQueueIsUnresponsiveEvenWithRecentProgress() {
        let hb = t0.addingTimeInterval(-40)
        let cs = [WatchdogComponentState(name: "flusher", lastProgress: t0, lastHeartbeat: hb)]
        XCTAssertEqual(ProgressWatchdog.decide(components: cs, now: t0, staleness: 30), .unresponsive(component: "flusher", since: hb))
        // Idle does not excuse an unresponsive queue either.
        let idle = [WatchdogComponentState(name: "flusher", lastProgress: t0, idle: true, lastHeartbeat: hb)]
        XCTAssertNotEqual(ProgressWatchdog.decide(components: idle, now: t0, staleness: 30), .healthy)
    }

    func testDisabledWithoutInterval() {
        let w = ProgressWatchdog(interval: nil)
        XCTAssertEqual(w.tick(), .disabled)
        XCTAssertEqual(w.stateDescription, "disabled")
        unsetenv("WATCHDOG_USEC")
        XCTAssertNil(ProgressWatchdog().interval)
        setenv("WATCHDOG_USEC", "2000000", 1)
        defer { unsetenv("WATCHDOG_USEC") }
        let fromEnv = ProgressWatchdog()
        XCTAssertEqual(fromEnv.interval, .seconds(2))
        XCTAssertEqual(fromEnv.staleness, 2)
    }
}

/// Real WATCHDOG=1 datagrams from the running timer.
final class ProgressWatchdogPingTests: XCTestCase {
    /// Keeps calling progress() on `queue` every 50 ms until stopped.
    final class Worker {
        let timer: DispatchSourceTimer
        init(_ w: ProgressWatchdog, name: String, queue: DispatchQueue) {
            timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now(), repeating: .milliseconds(50))
            timer.setEventHandler { w.progress(name) }
            timer.resume()
        }
        deinit { timer.cancel() }
    }

    func pings(_ msgs: [String]) -> Int { msgs.filter { $0 == "WATCHDOG=1" }.count }

    func testPingsWhileAllComponentsProgress() throws {
        let rx = try NotifyReceiver()
        let w = ProgressWatchdog(interval: .milliseconds(300), staleness: 1.0)
        let q1 = DispatchQueue(label: "scheduler"), q2 = DispatchQueue(label: "flusher")
        w.register("scheduler", queue: q1)
        w.register("flusher", queue: q2)
        let a = Worker(w, name: "scheduler", queue: q1), b = Worker(w, name: "flusher", queue: q2)
        w.start()
        defer { w.stop() }
        let got = rx.collect(for: 1.5)
        XCTAssertGreaterThanOrEqual(pings(got), 3, "\(got)")
        XCTAssertEqual(w.stateDescription, "ok")
        _ = (a, b)
    }

    func testStalledComponentStopsPings() throws {
        let rx = try NotifyReceiver()
        let w = ProgressWatchdog(interval: .milliseconds(200), staleness: 0.5)
        let q1 = DispatchQueue(label: "scheduler")
        w.register("scheduler", queue: q1)
        w.register("flusher")  // never progresses
        let a = Worker(w, name: "scheduler", queue: q1)
        w.start()
        defer { w.stop() }
        Thread.sleep(forTimeInterval: 0.8)  // let staleness elapse
        rx.drain()
        let got = rx.collect(for: 1.0)
        XCTAssertEqual(pings(got), 0, "stalled flusher must stop pings: \(got)")
        XCTAssertTrue(w.stateDescription.hasPrefix("stalled: flusher since"), w.stateDescription)
        // Recovery: progress resumes → pings resume.
        let b = Worker(w, name: "flusher", queue: DispatchQueue(label: "flusher-recover"))
        XCTAssertGreaterThan(pings(rx.collect(for: 1.5)), 0)
        _ = (a, b)
    }

    func testDeadlockedQueueStopsPingsDespiteProgressCalls() throws {
        let rx = try NotifyReceiver()
        let w = ProgressWatchdog(interval: .milliseconds(200), staleness: 0.3)
        let flusherQueue = DispatchQueue(label: "flusher")
        w.register("flusher", queue: flusherQueue)
        // Progress reported from elsewhere (e.g. a stale callback), but the flusher's own
        // queue is wedged: only the heartbeat can notice.
        let reporter = Worker(w, name: "flusher", queue: DispatchQueue(label: "reporter"))
        let release = DispatchSemaphore(value: 0)
        flusherQueue.async { release.wait() }
        w.start()
        defer { w.stop(); release.signal() }
        Thread.sleep(forTimeInterval: 0.5)
        rx.drain()
        let got = rx.collect(for: 1.0)
        XCTAssertEqual(pings(got), 0, "deadlocked queue must stop pings: \(got)")
        XCTAssertTrue(w.stateDescription.hasPrefix("unresponsive: flusher"), w.stateDescription)
        _ = reporter
    }

    func testIdleComponentKeepsPinging() throws {
        let rx = try NotifyReceiver()
        let w = ProgressWatchdog(interval: .milliseconds(300), staleness: 1.0)
        let q = DispatchQueue(label: "scheduler")
        w.register("scheduler", queue: q)
        w.idle("scheduler", until: Date().addingTimeInterval(3600))  // Retry-After park of an hour
        w.start()
        defer { w.stop() }
        XCTAssertGreaterThanOrEqual(pings(rx.collect(for: 1.5)), 3)
    }
}
