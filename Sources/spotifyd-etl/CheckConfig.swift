import ArgumentParser
import ETLConfig
import ETLCore
import ETLDaemon
import ETLState
import FoundationEssentials

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check the config file and the secrets it needs; with --online, also Spotify and S3.",
        discussion: """
        Offline (the default) nothing is sent anywhere: the file is validated and the secrets \
        the configured auth mode needs are looked up the way `run` looks them up (a refresh \
        token stored by `login` counts; the state database is only read). Prints `ok`, or one \
        line per problem and exits 78. AWS credentials are not required offline: they may come \
        from the EC2 instance role.

        --online then also gets a Spotify token, reads the first playlist's metadata and, for \
        an S3 sink, resolves AWS credentials, writes a small probe object under the prefix and \
        deletes it, printing one line per check. Exit status: 0 when everything passed, 78 for \
        a config problem or a missing secret, 69 when a remote check failed.
        """)

    @OptionGroup var options: ConfigOption

    @Flag(help: "Also check Spotify (token, first playlist) and, for an S3 sink, write and delete a probe object.")
    var online = false

    @Flag(help: "Check the file only, not the secrets: what a reload can change (the unit's ExecReload= uses it; its control process does not see the service's credentials).")
    var fileOnly = false

    func run() throws {
        if fileOnly && online { throw ValidationError("--file-only and --online exclude each other") }
        let config = try options.load()
        if fileOnly {
            if let p = OnlineChecks.sinkProblem(config) {
                Console.error(p.description)
                throw ArgumentParser.ExitCode(ETLCore.ExitCode.config)
            }
            Console.out("ok")
            return
        }
        let environment = ProcessInfo.processInfo.environment
        var secrets = Secrets.load(environment: environment)
        var storedToken = false
        var storedTokenNote: String?
        var tokenOrigin: String?
        if config.spotify.auth == .refreshToken {
            // The daemon's choice: a token Spotify rotated from the supplied one wins over it.
            let chosen = StoredRefreshToken.choose(supplied: secrets.refreshToken, statePath: config.state.path)
            secrets.refreshToken = chosen.token
            storedToken = chosen.fromStore
            storedTokenNote = chosen.note
            tokenOrigin = chosen.origin
        }
        let missing = Secrets.missingSecrets(config, secrets, storedRefreshTokenAvailable: storedToken,
                                             environment: environment, storedRefreshTokenNote: storedTokenNote)
        let sinkProblem = OnlineChecks.sinkProblem(config)

        guard online else {
            let problems = (sinkProblem.map { [$0] } ?? []) + missing
            guard problems.isEmpty else {
                for p in problems { Console.error(p.description) }
                throw ArgumentParser.ExitCode(ETLCore.ExitCode.config)
            }
            Console.out("ok")
            return
        }

        var configFailed = false
        var remoteFailed = false
        func emit(_ r: CheckResult) {
            switch r.outcome {
            case .ok, .skipped: Console.out(r.line)
            case .configError: configFailed = true; Console.error(r.line)
            case .unavailable: remoteFailed = true; Console.error(r.line)
            }
        }
        emit(sinkProblem.map { CheckResult("config", .configError, $0.description) } ?? CheckResult("config", .ok))
        if missing.isEmpty {
            emit(CheckResult("secrets", .ok, storedToken ? "refresh token from the state database" : ""))
        } else {
            for m in missing { emit(CheckResult("secrets", .configError, m.description)) }
        }

        let checks = OnlineChecks(config: config, secrets: secrets, environment: environment)
        if missing.isEmpty {
            let statePath = config.state.path
            checks.spotify(onRefreshTokenRotated: { [tokenOrigin] in Self.storeRotated($0, origin: tokenOrigin, statePath: statePath) },
                           emit: emit)
        } else {
            emit(CheckResult("spotify token", .skipped, "secrets missing"))
        }
        if sinkProblem == nil { checks.s3(emit: emit) }

        if configFailed { throw ArgumentParser.ExitCode(ETLCore.ExitCode.config) }
        if remoteFailed { throw ArgumentParser.ExitCode(ETLCore.ExitCode.unavailable) }
    }

    /// Spotify replaced the refresh token while we used it, and the old one may stop working:
    /// store the new one where the daemon (and the next `run`) finds it, as the daemon does.
    private static func storeRotated(_ token: String, origin: String?, statePath: String) {
        guard FileManager.default.fileExists(atPath: statePath) else {
            Console.error("spotify token: Spotify issued a new refresh token and there is no state database at \(statePath) to store it in; if the daemon later reports invalid_grant, run `spotifyd-etl login`")
            return
        }
        do {
            try StateStore(path: statePath).set([(key: RefreshTokenKeeper.tokenKey, value: token),
                                                 (key: RefreshTokenKeeper.originKey, value: origin)])
            Console.out("spotify token: Spotify issued a new refresh token; stored it in \(statePath)")
        } catch {
            Console.error("spotify token: Spotify issued a new refresh token that could not be stored in \(statePath) (\(error)); if the daemon later reports invalid_grant, run `spotifyd-etl login`")
        }
    }
}
