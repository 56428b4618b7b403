import ArgumentParser
import ETLConfig
import ETLCore
import ETLDaemon
import ETLState
import FoundationEssentials
import Logging

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon (or, with --once, poll every playlist once, flush and exit).",
        discussion: """
        --once exits 0 when everything was done, 75 when some work was deferred (rate limit, \
        retries exhausted, a failed write; nothing is lost, the next run continues), 1 when \
        some playlists failed permanently (403/404), 78 on bad config.
        """)

    @OptionGroup var options: ConfigOption

    @Flag(help: "Poll every playlist once, seal and flush everything, print a summary, exit.")
    var once = false

    @Option(help: "With --once: the longest Retry-After or park to wait for, in seconds.")
    var maxWait: Double = 60

    func run() throws {
        // Before any thread starts: `--once` polls with `concurrency` threads too, and each
        // would otherwise get its own malloc arena (see `MallocTuning`).
        MallocTuning.singleArena()
        let config = try options.load()
        let logger = LoggingSetup.bootstrap()
        let emf = LoggingSetup.bootstrapMetrics()
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
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.tempFail)
        }
        if once {
            let runner = OnceRunner(poller: components.poller, flusher: components.flusher,
                                    concurrency: config.schedule.concurrency, maxWait: maxWait, logger: logger,
                                    sweep: { components.enrichment.run() })
            let summary = runner.run(playlists: config.playlists.map(\.id))
            Console.out(summary.line)
            throw ArgumentParser.ExitCode(summary.exitCode)
        }
        try DaemonMain.run(components: components, configPath: options.config, logger: logger, emf: emf)
    }

    static func isLoopback(_ url: String) -> Bool {
        guard let host = URL(string: url)?.host else { return false }
        return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}

