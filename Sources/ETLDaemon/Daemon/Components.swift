import ETLConfig
import ETLCore
import ETLExtraction
import ETLHTTP
import ETLSink
import ETLState
import FoundationEssentials
import Logging

/// Builds the pipeline's parts from a validated config. The executable only calls this and
/// runs what it returns; tests build the same parts against the emulator and moto.
public final class Components: Sendable {
    public let config: AppConfig
    public let state: StateStore
    public let tokens: TokenProvider
    public let gate: RateGate
    public let client: SpotifyClient
    public let poller: PlaylistPoller
    public let flusher: Flusher
    public let enrichment: EnrichmentSweep
    public let metrics: PipelineMetrics
    public let secrets: SpotifySecrets
    /// Bytes moved and requests ended on the Spotify transport, for the watchdog.
    public let activity: ActivityTransport
    /// Holds polls back while the state database cannot take writes.
    public let storage: StorageGuard
    /// Progress of polls (pages read, commits), for the watchdog.
    public let pollProgress = ProgressMark()
    /// Saves refresh tokens Spotify rotates, and retries a save that failed.
    public let refreshTokens: RefreshTokenKeeper

    /// Where a `login` stores the refresh token, when it is not given by a credential.
    public static let storedRefreshTokenKey = RefreshTokenKeeper.tokenKey

    /// Throws `ConfigError` (exit 78) for anything an operator must fix in config or
    /// credentials, `StateError` when the state DB cannot be opened.
    public init(config: AppConfig, environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger, clock: Clock = SystemClock(), sink: ObjectSink? = nil) throws {
        self.config = config
        let statePath = config.state.path
        let stateDir = URL(fileURLWithPath: statePath).deletingLastPathComponent()
        try Self.makeDirectory(stateDir, key: "state.path", config: config)
        state = try StateStore(path: statePath, clock: clock)

        var secrets = Secrets.load(environment: environment)
        // The newest token of the chain wins over the operator's file while that file still
        // holds the token the chain began with (see RefreshTokenLineage).
        let choice = try RefreshTokenKeeper.choose(supplied: secrets.refreshToken, store: state)
        try Secrets.requireSecrets(config, secrets, storedRefreshTokenAvailable: choice.token != nil)
        secrets.refreshToken = choice.token
        self.secrets = secrets
        let refreshTokens = RefreshTokenKeeper(store: state, origin: choice.origin, clock: clock, logger: logger)
        self.refreshTokens = refreshTokens
        if choice.source == .stored, choice.origin != nil {
            logger.info("using the refresh token Spotify rotated from the configured one (stored in the state database)")
        }

        activity = ActivityTransport(CurlHTTPClient())
        let transport = activity
        let credentials = SpotifyCredentials(clientID: secrets.clientID!, clientSecret: secrets.clientSecret!,
                                             refreshToken: secrets.refreshToken)
        let state = self.state
        tokens = TokenProvider(credentials: credentials,
                               grant: config.spotify.auth == .refreshToken ? .refreshToken : .clientCredentials,
                               accountsURL: config.spotify.accountsURL, transport: transport, clock: clock,
                               timeout: config.spotify.requestTimeout, logger: logger,
                               onRefreshTokenRotated: { refreshTokens.rotated($0) })
        gate = RateGate(store: StateGateStore(state: state))
        client = SpotifyClient(settings: SpotifyClientSettings(apiURL: config.spotify.apiURL,
                                                               accountsURL: config.spotify.accountsURL,
                                                               market: config.spotify.market,
                                                               additionalTypes: config.spotify.additionalTypes,
                                                               timeout: config.spotify.requestTimeout),
                               tokens: tokens, gate: gate, transport: transport,
                               capabilities: StateCapabilityStore(state: state), logger: logger, clock: clock)
        metrics = PipelineMetrics()
        poller = PlaylistPoller(source: client, state: state, clock: clock, logger: logger, metrics: metrics,
                                progress: pollProgress)
        let storage = StorageGuard(store: state, directory: stateDir.path)
        self.storage = storage
        poller.setPauseCheck { storage.blockedUntil().map { ($0, StorageGuard.deferReason) } }

        enrichment = EnrichmentSweep(source: client, state: state, clock: clock, logger: logger)
        let objectSink = try sink ?? Self.makeSink(config: config, environment: environment, logger: logger,
                                                   ledger: StateMultipartLedger(state: state))
        let spool = stateDir.appendingPathComponent("spool", isDirectory: true)
        try Self.makeDirectory(spool, key: "state.path", config: config)
        let naming = ObjectNaming(format: config.sink.format == .csv ? .csv : .ndjson, gzip: config.sink.compression == .gzip,
                                  instanceID: config.instance.id)
        flusher = Flusher(state: state, sink: objectSink, spoolDirectory: spool, naming: naming,
                          limits: .init(maxRows: config.sink.maxRows, maxBytes: config.sink.maxBytes, maxAge: config.sink.maxAge),
                          clock: clock, logger: logger, metrics: metrics)
    }

    static func makeSink(config: AppConfig, environment: [String: String], logger: Logger,
                         ledger: MultipartLedger? = nil) throws -> ObjectSink {
        switch config.sink.kind {
        case .local:
            let root = URL(fileURLWithPath: config.sink.path, isDirectory: true)
            try makeDirectory(root, key: "sink.path", config: config)
            return LocalSink(root: root)
        case .s3:
            return try S3SinkFactory.make(config: config, environment: environment, logger: logger, ledger: ledger)
        }
    }

    static func makeDirectory(_ url: URL, key: String, config: AppConfig) throws {
        do {
            try FileIO.makeDirectories(url.path)
        } catch {
            throw ConfigError(file: config.sourcePath, key: key, message: "cannot create directory \(url.path): \(error)")
        }
    }
}

extension SpotifyClient: PlaylistPoller.Source {}
