import ETLConfig
import ETLHealth
import Logging

/// SIGHUP: re-reads the config file. An invalid file keeps the running config and says which
/// key; a valid one becomes the next `ConfigStore` snapshot in one swap. Only `[[playlists]]`
/// and `[schedule]` apply while running (a sharded instance then polls its shard of the new
/// list); sections whose objects are built once at start (`[instance]`, `[state]`, `[sink]`,
/// `[spotify]`, `[control]`, `[metrics]`) keep their running values in the new snapshot, with
/// a warning that they take effect after a restart.
final class Reloader: Sendable {
    private let path: String
    private let store: ConfigStore
    private let scheduler: Scheduler
    private let onReload: @Sendable (AppConfig) -> Void
    private let notifier: SystemdNotifier
    private let logger: Logger

    /// `onReload` runs after an accepted reload was applied (the status board's playlist list).
    init(path: String, store: ConfigStore, scheduler: Scheduler, notifier: SystemdNotifier, logger: Logger,
         onReload: @escaping @Sendable (AppConfig) -> Void) {
        self.path = path
        self.store = store
        self.scheduler = scheduler
        self.onReload = onReload
        self.notifier = notifier
        self.logger = logger
    }

    /// Returns the generation now running (unchanged when the file was rejected).
    @discardableResult
    func reload() -> Int {
        notifier.reloading()
        defer { notifier.ready() }
        let running = store.current
        let loaded: AppConfig
        do {
            loaded = try ConfigLoader.load(path: path)
        } catch {
            logger.error("reload rejected, keeping the running config: \(error.description)",
                         metadata: ["error_code": "config_invalid"])
            return running.generation
        }
        let old = running.config
        var restartNeeded: [String] = []
        if loaded.instance != old.instance { restartNeeded.append("[instance]") }
        if loaded.state != old.state { restartNeeded.append("[state]") }
        if loaded.sink != old.sink { restartNeeded.append("[sink]") }
        if loaded.spotify != old.spotify { restartNeeded.append("[spotify]") }
        if loaded.control != old.control { restartNeeded.append("[control]") }
        if loaded.metrics != old.metrics { restartNeeded.append("[metrics]") }
        if !restartNeeded.isEmpty {
            logger.warning("changes to \(restartNeeded.joined(separator: ", ")) take effect after a restart")
        }
        var next = old
        next.playlists = loaded.playlists
        next.schedule = loaded.schedule
        let snapshot = store.replace(next)
        scheduler.reconfigure(playlists: DaemonApp.schedule(next), jitter: next.schedule.jitter,
                              concurrency: next.schedule.concurrency, generation: snapshot.generation)
        onReload(next)
        logger.info("config reloaded", metadata: ["playlists": "\(next.ownPlaylists.count)",
                                                   "generation": "\(snapshot.generation)"])
        return snapshot.generation
    }
}
