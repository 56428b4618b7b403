import ETLCore

/// The daemon's whole configuration, as validated from TOML. Every field has its default
/// here so that `etc/spotifyd-etl.toml`, `docs/configuration.md` and the code agree in one place.
public struct AppConfig: Sendable, Equatable {
    public enum AuthMode: String, Sendable, Equatable { case clientCredentials = "client_credentials", refreshToken = "refresh_token" }
    public enum SinkKind: String, Sendable, Equatable { case local, s3 }
    public enum Format: String, Sendable, Equatable { case ndjson, csv }
    public enum Compression: String, Sendable, Equatable { case gzip, none }

    public struct Spotify: Sendable, Equatable {
        public var apiURL = "https://api.spotify.com/v1"
        public var accountsURL = "https://accounts.spotify.com"
        public var auth: AuthMode = .clientCredentials
        public var market: String? = nil
        public var additionalTypes: [String] = ["track", "episode"]
        /// Per-request timeout, seconds.
        public var requestTimeout: Double = 30
        public init() {}
    }

    public struct Playlist: Sendable, Equatable {
        public var id: String
        /// Seconds; nil means `[schedule].interval`.
        public var interval: Double?
        public init(id: String, interval: Double? = nil) { self.id = id; self.interval = interval }
    }

    public struct Schedule: Sendable, Equatable {
        public var interval: Double = 900
        public var jitter: Double = 0.1
        public var concurrency: Int = 4
        public init() {}
    }

    public struct State: Sendable, Equatable {
        public var path = "/var/lib/spotifyd-etl/state.db"
        public init() {}
    }

    public struct S3: Sendable, Equatable {
        public var bucket = ""
        public var prefix = ""
        public var region = "us-east-1"
        public var endpoint: String? = nil
        public var pathStyle = false
        public var multipartThreshold = 16 << 20
        public var storageClass: String? = nil
        public var profile: String? = nil
        public init() {}
    }

    public struct Sink: Sendable, Equatable {
        public var kind: SinkKind = .local
        public var path = "/var/lib/spotifyd-etl/out"
        public var format: Format = .ndjson
        public var compression: Compression = .gzip
        public var maxRows = 50_000
        public var maxBytes = 64 << 20
        /// Seconds; a non-empty batch is sealed no later than this.
        public var maxAge: Double = 60
        public var s3 = S3()
        public init() {}
    }

    public struct Metrics: Sendable, Equatable {
        public var interval: Double = 60
        public var namespace = "SpotifyETL"
        /// `[metrics] listen = "HOST:PORT"`: where `GET /metrics` (Prometheus) is served; nil = off.
        public var listen: Listen? = nil
        public init() {}

        /// A validated listen address: `host` is an IPv4 literal, an IPv6 literal (without
        /// brackets) or `localhost`; `port` is 1–65535.
        public struct Listen: Sendable, Equatable {
            public var host: String
            public var port: Int
            public init(host: String, port: Int) { self.host = host; self.port = port }
            /// As written in the config: `127.0.0.1:9464`, `[::1]:9464`.
            public var description: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
        }
    }

    public struct Control: Sendable, Equatable {
        public var socket = "/run/spotifyd-etl/control.sock"
        public init() {}
    }

    /// `[instance]`: how this instance is told apart from others writing to the same sink.
    public struct Instance: Sendable, Equatable {
        /// `id`: 1–32 of `[a-z0-9-]`, put into every object name (`ObjectNaming`); nil keeps the
        /// names without an id.
        public var id: String? = nil
        /// `shard_index` / `shard_count`: this instance polls only the playlists of its shard
        /// (`Shard`); nil polls every listed playlist. Set only together with `id`.
        public var shard: Shard? = nil
        public init() {}
    }

    public var spotify = Spotify()
    public var instance = Instance()
    public var playlists: [Playlist] = []
    public var schedule = Schedule()
    public var state = State()
    public var sink = Sink()
    public var metrics = Metrics()
    public var control = Control()
    /// The file this was read from, for error messages.
    public var sourcePath = ""

    public init() {}

    /// The playlists this instance polls: its shard's share of `playlists` (in list order), or
    /// all of them without `[instance] shard_count`.
    public var ownPlaylists: [Playlist] {
        guard let shard = instance.shard else { return playlists }
        return shard.select(playlists, id: \.id)
    }

    public static let defaultPath = "/etc/spotifyd-etl/spotifyd-etl.toml"
}

/// One clear line naming the file, the key and what is wrong. The CLI prints `description`
/// and exits 78.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let key: String
    public let message: String
    /// The documented bound the value broke, when the problem is one (nil for syntax, type and
    /// shape errors).
    public let violation: ConfigViolation?
    public init(file: String, key: String, message: String, violation: ConfigViolation? = nil) {
        self.file = file; self.key = key; self.message = message; self.violation = violation
    }
    public var description: String { "\(file): \(key): \(message)" }
}
