import Dispatch
import ETLCore
import Foundation
import Synchronization
import XCTest
@testable import ETLHealth

/// A clock the test moves by hand.
final class ManualClock: ETLCore.Clock, Sendable {
    private let current: Guarded<Date>
    init(_ start: Date) { current = Guarded(start) }
    func now() -> Date { current.withLock { $0 } }
    func advance(_ seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// What a fake component answers; the test changes it while the watchdog runs.
final class LivenessBox: Sendable {
    private let value: Guarded<Liveness>
    init(_ initial: Liveness) { value = Guarded(initial) }
    var liveness: Liveness {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
    var probe: @Sendable () -> Liveness { { self.liveness } }
}

/// The pure decision, no timers.
final class WatchdogDecisionTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func decide(_ readings: [WatchdogReading], at now: Date? = nil) -> WatchdogVerdict {
        ProgressWatchdog.decide(readings, now: now ?? t0, queueDeadline: 10, parkSlack: 30)
    }

    func testIdleIsHealthy() {
        XCTAssertEqual(decide([WatchdogReading(name: "flusher", liveness: .idle)]), .healthy)
        XCTAssertEqual(decide([]), .healthy)
    }

    func testParkedIsHealthyUntilItsEndPlusSlack() {
        let until = t0.addingTimeInterval(7200)  // an hour-long Retry-After and more
        let parked = [WatchdogReading(name: "scheduler", liveness: .parked(until: until))]
        XCTAssertEqual(decide(parked), .healthy)
        XCTAssertEqual(decide(parked, at: until), .healthy)
        XCTAssertEqual(decide(parked, at: until.addingTimeInterval(30)), .healthy, "slack is inclusive")
        // The park should have ended and the component never came back: stuck since `until`.
        let v = decide(parked, at: until.addingTimeInterval(30.5))
        guard case .stalled(let c, let since, let doing) = v else { return XCTFail("\(v)") }
        XCTAssertEqual(c, "scheduler")
        XCTAssertEqual(since, until)
        XCTAssertTrue(doing.hasPrefix("parked until "), doing)
    }

    func testBusyIsHealthyWithinItsDeadlineAndStalledPastIt() {
        func busy(_ s: Double) -> [WatchdogReading] {
            [WatchdogReading(name: "flusher", liveness: .busy(secondsSinceProgress: s, deadline: 120, doing: "uploading tracks"))]
        }
        XCTAssertEqual(decide(busy(0)), .healthy)
        XCTAssertEqual(decide(busy(41)), .healthy, "a slow upload still moving bytes is alive")
        XCTAssertEqual(decide(busy(120)), .healthy, "deadline is inclusive")
        XCTAssertEqual(decide(busy(120.5)),
                       .stalled(component: "flusher", since: t0.addingTimeInterval(-120.5), doing: "uploading tracks"))
    }

    func testPendingHeartbeatPastQueueDeadlineIsUnresponsive() {
        let pending = t0.addingTimeInterval(-10)
        XCTAssertEqual(decide([WatchdogReading(name: "scheduler", liveness: .idle, heartbeatPendingSince: pending)]), .healthy,
                       "queue deadline is inclusive")
        let stuck = t0.addingTimeInterval(-10.5)
        // Idle does not excuse a queue that no longer runs work.
        XCTAssertEqual(decide([WatchdogReading(name: "scheduler", liveness: .idle, heartbeatPendingSince: stuck)]),
                       .unresponsive(component: "scheduler", since: stuck))
        XCTAssertEqual(decide([WatchdogReading(name: "scheduler", liveness: .busy(secondsSinceProgress: 500, deadline: 1, doing: "x"),
                                               heartbeatPendingSince: stuck)]),
                       .unresponsive(component: "scheduler", since: stuck), "a dead queue is reported as such")
    }

    func testFirstUnhealthyByNameWins() {
        let stuck = t0.addingTimeInterval(-60)
        let rs = [WatchdogReading(name: "scheduler", liveness: .idle, heartbeatPendingSince: stuck),
                  WatchdogReading(name: "enricher", liveness: .idle),
                  WatchdogReading(name: "flusher", liveness: .busy(secondsSinceProgress: 99, deadline: 10, doing: "fsync"))]
        XCTAssertEqual(decide(rs), .stalled(component: "flusher", since: t0.addingTimeInterval(-99), doing: "fsync"))
        XCTAssertEqual(decide(rs.reversed()), decide(rs), "order of readings does not matter")
    }

    func testDescriptions() {
        XCTAssertEqual(WatchdogVerdict.healthy.description, "ok")
        XCTAssertEqual(WatchdogVerdict.disabled.description, "disabled")
        let at = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z
        XCTAssertEqual(WatchdogVerdict.stalled(component: "flusher", since: at, doing: "upload").description,
                       "stalled: flusher since \(WatchdogVerdict.hhmm(at))")
        XCTAssertEqual(WatchdogVerdict.hhmm(at), String(Timestamp.iso(at).dropFirst(11).prefix(5)) + "Z")
        XCTAssertEqual(WatchdogVerdict.unresponsive(component: "scheduler", since: at).description,
                       "unresponsive: scheduler since \(WatchdogVerdict.hhmm(at))")
    }

    func testPingPeriodIsHalfTheIntervalFromOneSecondToHalfAnHour() {
        for iv: Duration in [.seconds(1), .seconds(2), .milliseconds(1500), .seconds(60), .seconds(1800)] {
            let (period, leeway) = ProgressWatchdog.timing(for: iv)
            XCTAssertEqual(period * 2, iv, "\(iv)")
            XCTAssertLessThanOrEqual(leeway, period / 20, "\(iv): leeway must stay small against the period")
            XCTAssertGreaterThan(leeway, .zero)
        }
        XCTAssertEqual(ProgressWatchdog.timing(for: .seconds(1)).period, .milliseconds(500))
        XCTAssertEqual(ProgressWatchdog.timing(for: .seconds(1800)).period, .seconds(900))
        // What the Dispatch timer is actually given.
        XCTAssertEqual(Duration.milliseconds(500).dispatchInterval, .nanoseconds(500_000_000))
        XCTAssertEqual(Duration.seconds(900).dispatchInterval, .nanoseconds(900_000_000_000))
        XCTAssertEqual(Duration.seconds(45).dispatchInterval, .nanoseconds(45_000_000_000))
    }

    func testDisabledWithoutInterval() {
        let w = ProgressWatchdog(interval: nil)
        w.register("flusher") { .busy(secondsSinceProgress: 1e6, deadline: 1, doing: "x") }
        XCTAssertEqual(w.tick(), .disabled)
        XCTAssertEqual(w.stateDescription, "disabled")
        XCTAssertEqual(w.stats, WatchdogStats(intervalS: nil))
        w.start()  // no-op
        w.stop()
        unsetenv("WATCHDOG_USEC")
        unsetenv("WATCHDOG_PID")
        XCTAssertNil(ProgressWatchdog().interval)
        setenv("WATCHDOG_USEC", "2000000", 1)
        defer { unsetenv("WATCHDOG_USEC") }
        let fromEnv = ProgressWatchdog()
        XCTAssertEqual(fromEnv.interval, .seconds(2))
        XCTAssertEqual(fromEnv.stats.intervalS, 2)
    }
}

/// The watchdog driven tick by tick with a manual clock.
final class WatchdogTickTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// The measured failure: WATCHDOG_USEC=2 s and a flusher that has nothing to do for far
    /// longer must not be called stalled.
    func testIdleComponentWithoutActivityForTenIntervalsStaysHealthy() {
        let clock = ManualClock(t0)
        let w = ProgressWatchdog(interval: .seconds(2), clock: clock)
        w.register("flusher") { .idle }
        w.register("scheduler") { .parked(until: Date(timeIntervalSince1970: 1_800_003_600)) }
        for _ in 0..<20 {
            clock.advance(1)
            XCTAssertEqual(w.tick(), .healthy)
        }
        XCTAssertEqual(w.verdict, .healthy)
        XCTAssertEqual(w.stateDescription, "ok")
    }

    func testBusyPastDeadlineStallsAndRecovers() {
        let clock = ManualClock(t0)
        let w = ProgressWatchdog(interval: .seconds(2), clock: clock)
        let flusher = LivenessBox(.busy(secondsSinceProgress: 36, deadline: 60, doing: "uploading batch 7"))
        w.register("flusher", probe: flusher.probe)
        XCTAssertEqual(w.tick(), .healthy, "36 s into a slow upload that is still moving bytes")
        flusher.liveness = .busy(secondsSinceProgress: 61, deadline: 60, doing: "uploading batch 7")
        XCTAssertEqual(w.tick(), .stalled(component: "flusher", since: t0.addingTimeInterval(-61), doing: "uploading batch 7"))
        XCTAssertTrue(w.stateDescription.hasPrefix("stalled: flusher since "), w.stateDescription)
        flusher.liveness = .idle
        XCTAssertEqual(w.tick(), .healthy)
    }

    func testParkedPastSlackStalls() {
        let clock = ManualClock(t0)
        let w = ProgressWatchdog(interval: .seconds(2), clock: clock, parkSlack: 30)
        let until = t0.addingTimeInterval(600)
        w.register("scheduler") { .parked(until: until) }
        XCTAssertEqual(w.tick(), .healthy)
        clock.advance(630)
        XCTAssertEqual(w.tick(), .healthy)
        clock.advance(1)
        guard case .stalled("scheduler", until, _) = w.tick() else { return XCTFail("\(w.verdict)") }
    }

    func testUnregisterRemovesTheComponent() {
        let w = ProgressWatchdog(interval: .seconds(2))
        w.register("flusher") { .busy(secondsSinceProgress: 100, deadline: 1, doing: "x") }
        XCTAssertNotEqual(w.tick(), .healthy)
        w.unregister("flusher")
        XCTAssertEqual(w.tick(), .healthy)
    }

    /// A serial queue blocked by the test stops running the heartbeat: unresponsive after the
    /// queue deadline, healthy again once released.
    func testBlockedQueueBecomesUnresponsiveAndRecovers() {
        let w = ProgressWatchdog(interval: .seconds(1), queueDeadline: 0.3)
        let queue = DispatchQueue(label: "test.scheduler")
        w.register("scheduler", queue: queue) { .idle }
        XCTAssertEqual(w.tick(), .healthy)
        queue.sync {}  // the first heartbeat has run
        XCTAssertEqual(w.tick(), .healthy)

        let release = DispatchSemaphore(value: 0)
        queue.sync {}
        queue.async { release.wait() }
        let blockedAt = Date()
        XCTAssertEqual(w.tick(), .healthy, "a heartbeat is submitted behind the blocking work")
        var verdict = WatchdogVerdict.healthy
        while Date().timeIntervalSince(blockedAt) < 3 {
            verdict = w.tick()
            if verdict != .healthy { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard case .unresponsive("scheduler", let since) = verdict else {
            release.signal()
            return XCTFail("\(verdict)")
        }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(blockedAt), 0.3)
        XCTAssertEqual(since.timeIntervalSince(blockedAt), 0, accuracy: 0.2)
        XCTAssertTrue(w.stateDescription.hasPrefix("unresponsive: scheduler since "), w.stateDescription)

        release.signal()
        queue.sync {}  // the pending heartbeat ran
        XCTAssertEqual(w.tick(), .healthy)
    }
}

/// What the watchdog tells its observer (the daemon logs it): once per episode, not per tick.
final class WatchdogEventTests: XCTestCase {
    final class Events: Sendable {
        let list = Guarded<[WatchdogEvent]>([])
        var observer: VerdictObserver { { e in self.list.withLock { $0.append(e) } } }
        var all: [WatchdogEvent] { list.withLock { $0 } }
    }

    func testWithheldOncePerEpisodeThenResumed() throws {
        let rx = try NotifyReceiver()
        defer { withExtendedLifetime(rx) {} }
        let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
        let w = ProgressWatchdog(interval: .seconds(60), notifier: SystemdNotifier(), clock: clock)
        let events = Events()
        w.observe(events.observer)
        let flusher = LivenessBox(.busy(secondsSinceProgress: 1, deadline: 75, doing: "flushing batches"))
        w.register("flusher", probe: flusher.probe)
        XCTAssertEqual(w.tick(), .healthy)
        XCTAssertEqual(events.all, [], "a healthy, delivered ping is not an event")

        flusher.liveness = .busy(secondsSinceProgress: 80, deadline: 75, doing: "flushing batches")
        let v1 = w.tick()
        flusher.liveness = .busy(secondsSinceProgress: 85, deadline: 75, doing: "flushing batch 9")
        _ = w.tick()
        XCTAssertEqual(events.all, [.withheld(v1)], "the same component stalled again is the same episode")

        let queue = DispatchQueue(label: "test.scheduler")
        w.register("a-scheduler", queue: queue) { .busy(secondsSinceProgress: 30, deadline: 20, doing: "polling 1 playlist(s)") }
        let v2 = w.tick()
        XCTAssertEqual(events.all.last, .withheld(v2), "another component now holds the pings: reported")
        w.unregister("a-scheduler")
        flusher.liveness = .idle
        XCTAssertEqual(w.tick(), .healthy)
        XCTAssertEqual(events.all.count, 3, "\(events.all)")
        XCTAssertEqual(events.all[2], .resumed(after: .stalled(component: "a-scheduler")), "\(events.all)")
    }

    func testUndeliverablePingIsReportedOnce() {
        setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock", 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        let w = ProgressWatchdog(interval: .seconds(60), notifier: SystemdNotifier())
        let events = Events()
        w.observe(events.observer)
        w.register("flusher") { .idle }
        _ = w.tick()
        _ = w.tick()
        XCTAssertEqual(events.all, [.undeliverable])
    }

    /// Two pings further apart than 3/4 of the interval: systemd would kill at the full
    /// interval, so the daemon says its ping ran late.
    func testLatePingIsReported() throws {
        let rx = try NotifyReceiver()
        defer { withExtendedLifetime(rx) {} }
        let w = ProgressWatchdog(interval: .milliseconds(200), notifier: SystemdNotifier())
        let events = Events()
        w.observe(events.observer)
        w.register("flusher") { .idle }
        _ = w.tick()
        XCTAssertEqual(events.all, [])
        Thread.sleep(forTimeInterval: 0.25)
        _ = w.tick()
        guard case .late(let gap, let interval)? = events.all.last else { return XCTFail("\(events.all)") }
        XCTAssertGreaterThanOrEqual(gap, 0.25)
        XCTAssertEqual(interval, 0.2, accuracy: 1e-9)
    }
}

/// Real WATCHDOG=1 datagrams from the running timer through the real notifier.
final class ProgressWatchdogPingTests: XCTestCase {
    func testPingsEveryHalfIntervalWhileHealthy() throws {
        let rx = try NotifyReceiver()
        let w = ProgressWatchdog(interval: .seconds(1), notifier: SystemdNotifier())
        let queue = DispatchQueue(label: "test.scheduler")
        w.register("scheduler", queue: queue) { .idle }
        w.register("flusher") { .busy(secondsSinceProgress: 0.1, deadline: 60, doing: "uploading") }
        let started = Date()
        w.start()
        defer { w.stop() }
        let got = rx.collectTimed(for: 3.1).filter { $0.1 == "WATCHDOG=1" }.map(\.0)
        w.stop()
        XCTAssertGreaterThanOrEqual(got.count, 5, "\(got.count) pings in 3 s")
        XCTAssertLessThanOrEqual(got.count, 7, "\(got.count) pings in 3 s")
        // The first gap counts from start(). A late timer firing makes the next gap shorter
        // (the timer keeps its original schedule), so bound each gap from above only and
        // check the mean period.
        let gaps = zip(got, [started] + got).map { $0.timeIntervalSince($1) }
        for g in gaps { XCTAssertLessThan(g, 0.9, "\(gaps)") }
        if let last = got.last {
            XCTAssertEqual(last.timeIntervalSince(started) / Double(got.count), 0.5, accuracy: 0.1, "\(gaps)")
        }
        let stats = w.stats
        XCTAssertEqual(stats.intervalS, 1)
        XCTAssertEqual(stats.pings, got.count)
        XCTAssertNotNil(stats.lastPingAt)
        XCTAssertLessThan(stats.maxGapS, 0.9, "\(stats)")
        XCTAssertGreaterThan(stats.maxGapS, 0.3, "\(stats)")
        XCTAssertEqual(w.stateDescription, "ok")
    }

    func testStalledComponentSendsNoPingAndRecovery() throws {
        let rx = try NotifyReceiver()
        let w = ProgressWatchdog(interval: .seconds(1), notifier: SystemdNotifier())
        let flusher = LivenessBox(.busy(secondsSinceProgress: 300, deadline: 120, doing: "uploading"))
        w.register("scheduler") { .idle }
        w.register("flusher", probe: flusher.probe)
        w.start()
        defer { w.stop() }
        let got = rx.collect(for: 1.6)
        XCTAssertFalse(got.contains("WATCHDOG=1"), "stalled flusher must stop pings: \(got)")
        XCTAssertTrue(w.stateDescription.hasPrefix("stalled: flusher since "), w.stateDescription)
        XCTAssertEqual(w.stats.pings, 0)

        flusher.liveness = .idle
        XCTAssertTrue(rx.collect(for: 1.2).contains("WATCHDOG=1"), "pings resume once the flusher is idle")
        XCTAssertGreaterThan(w.stats.pings, 0)
        XCTAssertGreaterThan(w.stats.maxGapS, 1.5, "the stall shows as a long gap: \(w.stats)")
    }
}
