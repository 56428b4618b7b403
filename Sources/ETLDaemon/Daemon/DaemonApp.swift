import ETLConfig
import ETLExtraction
import ETLCore
import ETLHealth
import ETLSink
import FoundationEssentials
import Logging
import ServiceLifecycle
import UnixSignals

/// The long-running daemon: a list of small services run by one `ServiceGroup`.
///
/// Start: the control socket is bound first (a failure throws before anything runs), then the
/// group starts every service; `SystemdService` sends READY=1.
///
/// Shutdown, on SIGTERM or SIGINT, in this order (the group shuts services down in reverse
/// order of the list below, each one after the previous returned):
/// 1. `SchedulerService`: stop starting polls, drain polls in flight (bounded);
/// 2. `FlusherService`: final flush of everything sealed and unsealed;
/// 3. `EnrichmentService`, `HeapTrimmerService`: stop their timers;
/// 4. `MetricsService`: emit the last EMF documents;
/// 5. `ReloadService`: stop listening for SIGHUP;
/// 6. `ControlService`: close the control socket (it answered `status` until here);
/// 7. `SystemdService`: stop the watchdog pings, send STOPPING=1.
/// Then `run` returns and the process exits 0.
public enum DaemonApp {
    public static func run(components: Components, configPath: String, logger: Logger, emf: EMFMetrics?,
                           prometheus: PrometheusMetrics? = nil) async throws {
        let config = components.config
        let store = ConfigStore(config)
        let notifier = SystemdNotifier()
        let watchdog = ProgressWatchdog(notifier: notifier)
        watchdog.observe { [logger] in WatchdogEventLog.log($0, to: logger) }
        let startedAt = Date()
        let board = StatusBoard(components: components, playlists: config.ownPlaylists.map(\.id),
                                listed: config.playlists.count)
        let storage = components.storage
        storage.setOnCleared { [logger] in
            board.storageCleared()
            logger.notice("state storage takes writes again; polling resumes")
        }
        let poller = components.poller
        let refreshTokens = components.refreshTokens
        let scheduler = Scheduler(playlists: schedule(config), jitter: config.schedule.jitter,
                                  concurrency: config.schedule.concurrency) { id, _ in
            refreshTokens.retryIfDue()
            if let until = storage.hold(now: Date()) {
                return .deferred(until: until, reason: StorageGuard.deferReason, cause: .storage)
            }
            let outcome = poller.poll(id)
            storage.observe(outcome, now: Date())
            return outcome
        }
        scheduler.onOutcome = { id, outcome, lag in board.record(id, outcome, lag: lag) }

        let flusher = FlusherService(flusher: components.flusher, maxAge: config.sink.maxAge, board: board, logger: logger)
        let enrichment = EnrichmentService(sweep: components.enrichment, activity: components.activity,
                                           requestTimeout: config.spotify.requestTimeout)
        let emitter = emf.map { EMFEmitter(metrics: $0, namespace: config.metrics.namespace,
                                           interval: config.metrics.interval, logger: logger) }

        // Liveness, asked by the watchdog at every tick (see ProgressWatchdog). The scheduler's
        // queue only does bookkeeping, so it is also probed for responsiveness.
        let pollDeadline = config.spotify.requestTimeout + 15
        let activity = components.activity
        let pollProgress = components.pollProgress
        watchdog.register("scheduler", queue: scheduler.queue) {
            let n = scheduler.inFlightNow
            guard n > 0 else { return .idle }
            let quiet = min(activity.secondsSinceActivity, pollProgress.secondsSince)
            return .busy(secondsSinceProgress: quiet, deadline: pollDeadline, doing: "polling \(n) playlist(s)")
        }
        watchdog.register("flusher") { flusher.liveness() }
        watchdog.register("enrichment") { enrichment.liveness() }

        let handler = ControlHandler(components: components, board: board, scheduler: scheduler, flusher: flusher,
                                     watchdog: watchdog, startedAt: startedAt)
        try? FileIO.makeDirectories(Paths.parent(config.control.socket))
        let control = ControlServer(path: config.control.socket, logger: logger) { req, _ in handler.handle(req) }
        try control.start()
        let metricsEndpoint = try PrometheusService(listen: config.metrics.listen, metrics: prometheus, logger: logger)
        let reloader = Reloader(path: configPath, store: store, scheduler: scheduler, notifier: notifier,
                                logger: logger) { board.setPlaylists($0.ownPlaylists.map(\.id), listed: $0.playlists.count) }

        let services: [any Service] = [
            SystemdService(notifier: notifier, watchdog: watchdog,
                           statusLine: { board.line(gate: components.gate) },
                           startedMessage: {
                               var metadata: Logger.Metadata = [
                                   "playlists": "\(config.ownPlaylists.count)", "sink": "\(config.sink.kind.rawValue)",
                                   "watchdog": "\(watchdog.stateDescription)"]
                               if let id = config.instance.id { metadata["instance"] = "\(id)" }
                               if let shard = config.instance.shard {
                                   metadata["shard"] = "\(shard.description)"
                                   metadata["playlists_listed"] = "\(config.playlists.count)"
                               }
                               logger.info("spotifyd-etl started", metadata: metadata)
                               if config.instance.shard != nil, config.ownPlaylists.isEmpty {
                                   logger.warning("no listed playlist falls into this instance's shard; it polls nothing until the list grows")
                               }
                           }),
            ControlService(server: control),
            metricsEndpoint,
            ReloadService(reloader: reloader),
            MetricsService(emitter: emitter),
            HeapTrimmerService(trimmer: HeapTrimmer(), scheduler: scheduler),
            enrichment,
            flusher,
            SchedulerService(scheduler: scheduler, drainTimeout: min(30, config.spotify.requestTimeout + 5), logger: logger,
                             onShutdown: { board.setStopping() }),
        ]
        var groupLogger = logger
        // The group's own lifecycle messages are debug detail; ours say what happens.
        groupLogger.logLevel = max(logger.logLevel, .notice)
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: groupLogger)
        try await group.run()
        logger.info("stopped")
    }

    /// What the scheduler polls: this instance's own playlists (its shard's, when sharded).
    static func schedule(_ c: AppConfig) -> [(id: String, interval: Double)] {
        c.ownPlaylists.map { ($0.id, $0.interval ?? c.schedule.interval) }
    }
}
