import ArgumentParser
import ETLConfig
import ETLCore
import ETLDaemon
import ETLState
import FoundationEssentials
import Logging
import Glibc
import ETLHealth
import Dispatch

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon (or, with --once, poll every playlist once, flush and exit).",
        discussion: """
        --once exits 0 when everything was done, 75 when some work was deferred (rate limit, \
        retries exhausted, a failed write; nothing is lost, the next run continues), 1 when \
        some playlists failed permanently (403/404) or a batch was quarantined to the \
        dead-letter directory, 65 when the state database is corrupt (the daemon exits 65 \
        then too), 78 on bad config.
        """)

    @OptionGroup var options: ConfigOption

    @Flag(help: "Poll every playlist once, seal and flush everything, print a summary, exit.")
    var once = false

    @Option(help: "With --once: the longest Retry-After or park to wait for, in seconds.")
    var maxWait: Double = 60

    @Option(help: ArgumentHelp(
        "Log level; overrides $\(LogLevelSetting.environmentVariable) (default info). "
            + "debug also logs every HTTP request (method, path, status, bytes, ms).", valueName: "level"))
    var logLevel: LogLevelArgument?

    func run() async throws {
        // Before any thread starts: `--once` polls with `concurrency` threads too, and each
        // would otherwise get its own malloc arena (see `MallocTuning`).
        MallocTuning.singleArena()
        let level: Logger.Level
        do {
            level = try LogLevelSetting.resolve(flag: logLevel?.level, environment: ProcessInfo.processInfo.environment)
        } catch {
            Console.error("spotifyd-etl: \(error)")
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.config)
        }
        let config = try options.load()
        let logger = LoggingSetup.bootstrap(level: level)
        // `/metrics` is served by the daemon only; `--once` keeps EMF alone.
        let (emf, prometheus) = LoggingSetup.bootstrapMetrics(prometheus: config.metrics.listen != nil && !once)
        if Self.isLoopback(config.spotify.apiURL) {
            logger.notice("using a Spotify API on loopback (the bundled emulator?): \(config.spotify.apiURL)")
        }
        let components: Components
        do {
            components = try Components(config: config, logger: logger)
        } catch let e as ConfigError {
            Console.error(e.description)
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.config)
        } catch let e as StateError {
            Console.error("state: \(e)")
            switch e {
            case .corrupt, .schemaTooNew:
                Console.error("spotifyd-etl: not starting: restore the state database from a backup or move it "
                              + "aside (docs/operations.md, \"A corrupt state database\")")
                throw ArgumentParser.ExitCode(ETLCore.ExitCode.dataError)
            default:
                throw ArgumentParser.ExitCode(ETLCore.ExitCode.tempFail)
            }
        }
        if once {
            // On a terminal, one progress line updated in place; nothing when stderr is a file,
            // a pipe or the journal.
            let tty = isatty(STDERR_FILENO) == 1
            var progress: OnceRunner.Progress? = nil
            if tty {
                progress = { (done: Int, total: Int, items: Int) in
                    let line = "polled \(done)/\(total) playlists, \(LogText.count(items)) items"
                    StandardStreams.err("\r\u{1B}[K" + line)
                }
            }
            let runner = OnceRunner(poller: components.poller, flusher: components.flusher,
                                    concurrency: config.schedule.concurrency, maxWait: maxWait, logger: logger,
                                    sweep: { components.enrichment.run() }, onProgress: progress)
            // This instance's own playlists: its shard's, when `[instance]` splits the list.
            let playlists = config.ownPlaylists.map(\.id)
            // The round blocks in curl and SQLite: on a Dispatch thread, not the cooperative pool.
            let summary = await withCheckedContinuation { c in
                DispatchQueue.global().async { c.resume(returning: runner.run(playlists: playlists)) }
            }
            if tty { StandardStreams.err("\r\u{1B}[K") }
            Console.out(summary.line)
            throw ArgumentParser.ExitCode(summary.exitCode)
        }
        try await DaemonApp.run(components: components, configPath: options.config, logger: logger, emf: emf,
                                prometheus: prometheus)
    }

    static func isLoopback(_ url: String) -> Bool {
        guard let host = URL(string: url)?.host else { return false }
        return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}


/// `--log-level`: an invalid value is a usage error (exit 64) naming these values.
enum LogLevelArgument: String, ExpressibleByArgument, CaseIterable {
    case debug, info, notice, warning, error
    var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}
