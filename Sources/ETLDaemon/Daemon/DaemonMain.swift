import ETLConfig
import ETLCore
import ETLHealth
import ETLSink
import ETLState
import FoundationEssentials
import Dispatch
import Glibc
import Logging

/// The long-running service: scheduler + flusher on Dispatch timers, sd_notify, a
/// progress-gated watchdog, the control socket, SIGHUP reload and SIGTERM drain.
public final class Daemon: @unchecked Sendable {
    let components: Components
    let configPath: String
    var config: AppConfig
    let logger: Logger
    let notifier = SystemdNotifier()
    let watchdog: ProgressWatchdog
    let scheduler: Scheduler
    let flushQueue = DispatchQueue(label: "spotifyd-etl.flusher")
    let enrichQueue = DispatchQueue(label: "spotifyd-etl.enrichment")
    let emitter: EMFEmitter?
    var control: ControlServer?
    let startedAt = Date()
    let statusBoard: StatusBoard
    let storage: StorageGuard
    private var flushTimer: DispatchSourceTimer?
    private var signalSources: [DispatchSourceSignal] = []
    private var flushBackoff = FlushBackoff()
    private var nextEnrichment = Date().addingTimeInterval(60)
    private var stopping = false

    public init(components: Components, configPath: String, logger: Logger, emf: EMFMetrics?) {
        self.components = components
        self.configPath = configPath
        self.config = components.config
        self.logger = logger
        // Staleness: a poll may legitimately sit in one HTTP call for the whole request timeout.
        watchdog = ProgressWatchdog(notifier: notifier)
        let poller = components.poller
        let storage = StorageGuard(store: components.state,
                                   directory: URL(fileURLWithPath: components.config.state.path).deletingLastPathComponent().path)
        self.storage = storage
        poller.pauseCheck = { storage.blockedUntil().map { ($0, StorageGuard.deferReason) } }
        scheduler = Scheduler(playlists: Self.schedule(components.config), jitter: components.config.schedule.jitter,
                              concurrency: components.config.schedule.concurrency) { id in
            if let until = storage.hold(now: Date()) {
                return .deferred(until: until, reason: StorageGuard.deferReason)
            }
            let outcome = poller.poll(id)
            storage.observe(outcome, now: Date())
            return outcome
        }
        emitter = emf.map { EMFEmitter(metrics: $0, namespace: components.config.metrics.namespace,
                                        interval: components.config.metrics.interval, logger: logger) }
        statusBoard = StatusBoard(components: components)
        let board = statusBoard
        storage.onCleared = { [logger] in
            board.storageCleared()
            logger.notice("state storage takes writes again; polling resumes")
        }
    }

    static func schedule(_ c: AppConfig) -> [(id: String, interval: Double)] {
        c.playlists.map { ($0.id, $0.interval ?? c.schedule.interval) }
    }

    /// Runs until SIGTERM/SIGINT; never returns normally (exits the process).
    public func run() throws -> Never {
        try startControlSocket()
        watchdog.register("scheduler", queue: scheduler.queue)
        watchdog.register("flusher", queue: flushQueue)
        scheduler.onTick = { [weak self] in self?.schedulerTick() }
        scheduler.onOutcome = { [weak self] id, outcome, lag in self?.statusBoard.record(id, outcome, lag: lag) }
        scheduler.start()
        startFlusher()
        emitter?.start()
        installSignals()
        watchdog.start()
        notifier.ready()
        notifier.status(statusBoard.line(gate: components.gate))
        logger.info("spotifyd-etl started", metadata: ["playlists": "\(config.playlists.count)",
                                                       "sink": "\(config.sink.kind.rawValue)",
                                                       "watchdog": "\(watchdog.stateDescription)"])
        dispatchMain()
    }

    // MARK: scheduler liveness

    /// Called on the scheduler queue every second. The scheduler is making progress when it
    /// is idle, or when its polls are moving (HTTP requests keep completing). A poll stuck in
    /// one call beyond the request timeout (plus slack) stops the pings.
    private func schedulerTick() {
        let inFlight = scheduler.inFlightNow
        let quietFor = Date().timeIntervalSince(components.activity.lastActivity)
        if inFlight == 0 || quietFor < config.spotify.requestTimeout + 15 {
            watchdog.progress("scheduler")
        }
        heapTrimmer.tick(busy: inFlight > 0, now: Date())
        let line = statusBoard.line(gate: components.gate)
        if line != lastStatus { notifier.status(line); lastStatus = line }
    }
    private var lastStatus = ""
    private let heapTrimmer = HeapTrimmer()

    // MARK: flusher

    private func startFlusher() {
        let t = DispatchSource.makeTimerSource(queue: flushQueue)
        let period = max(1, min(config.sink.maxAge / 2, 5))
        t.schedule(deadline: .now() + period, repeating: period, leeway: .milliseconds(250))
        t.setEventHandler { [weak self] in self?.flushTick() }
        flushTimer = t
        t.resume()
    }

    /// On the flush queue. Failed uploads back off (exponentially for transient errors, a slow
    /// cadence for ones an operator must fix); waiting for the next attempt is idle, not a hang.
    private func flushTick() {
        let now = Date()
        if let next = flushBackoff.nextAttempt, now < next {
            watchdog.idle("flusher", until: next)
            return
        }
        if now >= nextEnrichment {
            // Rare: incomplete artists only exist after an enrichment failed. Its own queue,
            // so slow per-id fetches never hold up uploads (or the flusher's watchdog).
            nextEnrichment = now.addingTimeInterval(600)
            let sweep = components.enrichment
            enrichQueue.async { sweep.run() }
        }
        let r = components.flusher.flush(force: false)
        statusBoard.flushed(r)
        if let f = r.failure {
            let wait = flushBackoff.failed(kind: f.kind, now: now)
            logger.warning("upload will be retried in \(Int(wait)) s", metadata: ["error_code": "\(f.code)"])
            watchdog.idle("flusher", until: flushBackoff.nextAttempt)
        } else {
            flushBackoff.succeeded()
            watchdog.progress("flusher")
        }
    }

    /// `spotifyd-etl flush`: seal everything now and upload, waiting for the result.
    func flushNow() -> Flusher.Result {
        flushQueue.sync {
            flushBackoff.succeeded()
            let r = components.flusher.flush(force: true)
            statusBoard.flushed(r)
            watchdog.progress("flusher")
            return r
        }
    }

    // MARK: signals

    private func installSignals() {
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .main)
            src.setEventHandler { [weak self] in
                if sig == SIGHUP { self?.reload() } else { self?.shutdown() }
            }
            src.resume()
            signalSources.append(src)
        }
    }

    /// SIGHUP: re-read the config; an invalid one keeps the old running and says which key.
    func reload() {
        notifier.reloading()
        defer { notifier.ready() }
        let new: AppConfig
        do {
            new = try ConfigLoader.load(path: configPath)
        } catch {
            logger.error("reload rejected, keeping the running config: \(error.description)",
                         metadata: ["error_code": "config_invalid"])
            return
        }
        var restartNeeded: [String] = []
        if new.state != config.state { restartNeeded.append("[state]") }
        if new.sink != config.sink { restartNeeded.append("[sink]") }
        if new.spotify != config.spotify { restartNeeded.append("[spotify]") }
        if new.control != config.control { restartNeeded.append("[control]") }
        if !restartNeeded.isEmpty {
            logger.warning("changes to \(restartNeeded.joined(separator: ", ")) take effect after a restart")
        }
        config.playlists = new.playlists
        config.schedule = new.schedule
        statusBoard.setPlaylists(new.playlists.map(\.id))
        scheduler.reconfigure(playlists: Self.schedule(new), jitter: new.schedule.jitter,
                              concurrency: new.schedule.concurrency)
        logger.info("config reloaded", metadata: ["playlists": "\(new.playlists.count)"])
    }

    /// SIGTERM: stop scheduling, let in-flight polls finish (or abandon them after a bound —
    /// nothing of theirs is committed), seal and upload everything, exit 0. What cannot be
    /// uploaded stays in the outbox for the next start.
    func shutdown() {
        guard !stopping else { return }
        stopping = true
        notifier.stopping()
        logger.info("stopping: draining in-flight polls, then a final flush")
        let drained = DispatchSemaphore(value: 0)
        scheduler.stop { drained.signal() }
        DispatchQueue.global().async { [self] in
            if drained.wait(timeout: .now() + min(30, config.spotify.requestTimeout + 5)) == .timedOut {
                logger.warning("abandoning in-flight polls; their work is uncommitted and will be redone")
            }
            flushTimer?.cancel()
            let r = flushQueue.sync { components.flusher.flush(force: true) }
            if let f = r.failure {
                logger.error("final upload failed; batches stay in the outbox: \(f.description)")
            }
            emitter?.stop()
            watchdog.stop()
            control?.stop()
            logger.info("stopped", metadata: ["uploaded": "\(r.uploaded)"])
            exit(ExitCode.ok)
        }
    }

    // MARK: control socket

    private func startControlSocket() throws {
        let path = config.control.socket
        try? FileManager.default.createDirectory(atPath: Paths.parent(path),
                                                 withIntermediateDirectories: true)
        let server = ControlServer(path: path, logger: logger) { [weak self] req, _ in
            guard let self else { return .failure("shutting down") }
            return self.handle(req)
        }
        try server.start()
        control = server
    }

    func handle(_ req: ControlRequest) -> ControlResponse {
        switch req.cmd {
        case .status:
            return ControlResponse(ok: true, status: statusBoard.report(startedAt: startedAt, gate: components.gate,
                                                                        tokens: components.tokens, scheduler: scheduler,
                                                                        watchdog: watchdog.stateDescription))
        case .poll:
            let hit = scheduler.pollNow(req.playlists)
            if let asked = req.playlists, hit.count != asked.count {
                let unknown = Set(asked).subtracting(hit).sorted()
                return .failure("not configured: \(unknown.joined(separator: ", "))")
            }
            return ControlResponse(ok: true, message: "\(hit.count) playlist(s) due now")
        case .flush:
            let r = flushNow()
            if let f = r.failure { return ControlResponse(ok: false, error: "upload failed: \(f.description)") }
            return ControlResponse(ok: true, message: "sealed \(r.sealed), uploaded \(r.uploaded) batch(es)"
                                   + (r.lastKey.map { ", last \($0)" } ?? ""))
        }
    }
}

/// Retry cadence for failed uploads: exponential with jitter for transient errors (capped at
/// 5 min), a fixed 5 min for errors an operator must fix (credentials, bucket).
struct FlushBackoff {
    var failures = 0
    var nextAttempt: Date?

    mutating func failed(kind: SinkError.Kind, now: Date) -> Double {
        failures += 1
        let wait: Double
        switch kind {
        case .transient: wait = min(300, pow(2, Double(min(failures, 9)))) * Double.random(in: 0.8...1.2)
        case .needsOperator: wait = 300
        }
        nextAttempt = now.addingTimeInterval(wait)
        return wait
    }

    mutating func succeeded() { failures = 0; nextAttempt = nil }
}

public enum DaemonMain {
    public static func run(components: Components, configPath: String, logger: Logger, emf: EMFMetrics?) throws -> Never {
        try Daemon(components: components, configPath: configPath, logger: logger, emf: emf).run()
    }
}
