import ETLCore
import FoundationEssentials
import Glibc
import TOMLKit

/// Reads `spotifyd-etl.toml` into a validated `AppConfig`. Every failure is one `ConfigError`
/// line naming the file, the dotted key and what is wrong, so `spotifyd-etl` can print it and
/// exit 78 (systemd then stops restarting). Unknown keys are errors, not warnings: a typo such
/// as `max_byte` would otherwise silently run with the default.
public enum ConfigLoader {
    /// Larger files are certainly not a config; refusing them keeps a bad path from eating memory.
    /// 16 MiB holds about 370,000 `[[playlists]]` tables (45 bytes each), far more than one
    /// instance polls; parsing 100,000 of them (4.5 MB) takes about a second and a transient
    /// 75 MiB of heap (docs/scaling.md).
    static let maxFileSize = 16 << 20

    /// Reads and validates the file at `path`. `sourcePath` of the result is `path`.
    public static func load(path: String) throws(ConfigError) -> AppConfig {
        let data: Data
        do {
            var st = stat()
            if stat(path, &st) == 0 {
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    throw ConfigError(file: path, key: "(file)", message: "cannot read config file: is a directory")
                }
                if Int(st.st_size) > maxFileSize {
                    throw ConfigError(file: path, key: "(file)", message: "config file is larger than \(maxFileSize >> 20) MiB; is this the right file?")
                }
            }
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let e as ConfigError {
            throw e
        } catch {
            throw ConfigError(file: path, key: "(file)", message: "cannot read config file: \(readFailure(path))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, key: "(file)", message: "config file is not valid UTF-8 text")
        }
        return try parse(text: text, sourcePath: path)
    }

    /// Why `path` could not be read, in words (errno text; never the file's content).
    private static func readFailure(_ path: String) -> String {
        let fd = open(path, O_RDONLY)
        if fd >= 0 { close(fd); return "read failed" }
        return String(cString: strerror(errno))
    }

    /// Parses and validates TOML text. `sourcePath` names the file in errors.
    public static func parse(text: String, sourcePath: String) throws(ConfigError) -> AppConfig {
        if text.utf8.contains(0) {
            throw ConfigError(file: sourcePath, key: "(file)", message: "config contains a NUL byte; is this a text file?")
        }
        if let bad = TOMLHeaderGuard.firstBadHeader(in: text) {
            throw ConfigError(file: sourcePath, key: "line \(bad.line), column \(bad.column)",
                              message: "TOML syntax error: a table header must start with a key, e.g. [sink] or [[playlists]]")
        }
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            let pos = e.source.begin
            throw ConfigError(file: sourcePath, key: "line \(pos.line), column \(pos.column)",
                              message: "TOML syntax error: " + ConfigText.oneLine(e.description))
        } catch {
            throw ConfigError(file: sourcePath, key: "(file)", message: "TOML syntax error")
        }
        var config = AppConfig()
        config.sourcePath = sourcePath
        let top = try TableReader(root, path: "", file: sourcePath,
                                  allowed: ["spotify", "instance", "playlists", "schedule", "state", "sink", "metrics", "control"])
        if let t = try top.table("spotify") { config.spotify = try spotify(TableReader(t, path: "spotify", file: sourcePath, allowed: spotifyKeys)) }
        if let t = try top.table("instance") { config.instance = try instance(TableReader(t, path: "instance", file: sourcePath, allowed: instanceKeys)) }
        if let t = try top.table("schedule") { config.schedule = try schedule(TableReader(t, path: "schedule", file: sourcePath, allowed: scheduleKeys)) }
        config.playlists = try playlists(top)
        if let t = try top.table("state") { config.state = try state(TableReader(t, path: "state", file: sourcePath, allowed: ["path"])) }
        if let t = try top.table("sink") { config.sink = try sink(TableReader(t, path: "sink", file: sourcePath, allowed: sinkKeys)) }
        if let t = try top.table("metrics") { config.metrics = try metrics(TableReader(t, path: "metrics", file: sourcePath, allowed: ["interval", "namespace", "listen"])) }
        if let t = try top.table("control") { config.control = try control(TableReader(t, path: "control", file: sourcePath, allowed: ["socket"])) }
        return config
    }

    static let spotifyKeys = ["api_url", "accounts_url", "auth", "market", "additional_types", "request_timeout"]
    static let instanceKeys = ["id", "shard_index", "shard_count"]
    static let scheduleKeys = ["interval", "jitter", "concurrency"]
    static let playlistKeys = ["id", "interval"]
    static let sinkKeys = ["kind", "path", "format", "compression", "max_rows", "max_bytes", "max_age",
                           "bucket", "prefix", "region", "endpoint", "path_style", "multipart_threshold",
                           "storage_class", "profile"]

    // MARK: - Tables

    private static func spotify(_ r: TableReader) throws(ConfigError) -> AppConfig.Spotify {
        var s = AppConfig.Spotify()
        if let v = try r.string("api_url") { s.apiURL = try url(r, "api_url", v, allowPath: true) }
        if let v = try r.string("accounts_url") { s.accountsURL = try url(r, "accounts_url", v, allowPath: true) }
        if let v = try r.string("auth") { s.auth = try choice(r, "auth", v) }
        if let v = try r.string("market") {
            guard ConfigRules.isMarket(v) else {
                throw r.error("market", "must be a two-letter uppercase country code such as \"US\", got \(ConfigText.quote(v))")
            }
            s.market = v
        }
        if let a = try r.array("additional_types") {
            var types: [String] = []
            for (i, element) in a.enumerated() {
                guard let t = element.string else {
                    throw r.elementError("additional_types", i, "expected a string, got \(ConfigText.article(element.type.description))")
                }
                guard t == "track" || t == "episode" else {
                    throw r.elementError("additional_types", i, "must be \"track\" or \"episode\", got \(ConfigText.quote(t))")
                }
                guard !types.contains(t) else { throw r.elementError("additional_types", i, "\(ConfigText.quote(t)) is listed twice") }
                types.append(t)
            }
            guard !types.isEmpty else { throw r.error("additional_types", "must list at least one of \"track\", \"episode\"") }
            s.additionalTypes = types
        }
        if let v = try r.duration("request_timeout", minimum: ConfigBounds.requestTimeoutMinimum) { s.requestTimeout = v }
        return s
    }

    /// `[instance]`: `id` alone renames objects; `shard_index` and `shard_count` come as a pair
    /// and need `id`, because instances that split one playlist list write to one sink and
    /// would otherwise name their objects alike.
    private static func instance(_ r: TableReader) throws(ConfigError) -> AppConfig.Instance {
        var i = AppConfig.Instance()
        if let v = try r.string("id") {
            if let problem = ConfigRules.instanceIDProblem(v) { throw r.error("id", "\(problem), got \(ConfigText.quote(v, limit: 40))") }
            i.id = v
        }
        let countRange = 1...ConfigBounds.shardCountMaximum
        let count = try r.int("shard_count")
        if let count, !countRange.contains(count) {
            throw r.error("shard_count", "must be between 1 and \(countRange.upperBound), got \(count)",
                          violation: .shardOutOfRange(countRange))
        }
        let index = try r.int("shard_index")
        switch (index, count) {
        case (nil, nil):
            break
        case (nil, .some):
            throw r.error("shard_index", "missing: shard_count needs a shard_index (this instance's shard, 0 to shard_count - 1)")
        case (.some, nil):
            throw r.error("shard_count", "missing: shard_index needs a shard_count (how many shards the playlists are split into)")
        case let (index?, count?):
            guard let shard = Shard(index: index, count: count) else {
                throw r.error("shard_index", "must be between 0 and \(count - 1) (shards are numbered from 0 below shard_count = \(count)), got \(index)",
                              violation: .shardOutOfRange(0...(count - 1)))
            }
            guard i.id != nil else {
                throw r.error("id", "missing: shard_index and shard_count need an id, so that the object names of the instances sharing a sink differ")
            }
            i.shard = shard
        }
        return i
    }

    private static func schedule(_ r: TableReader) throws(ConfigError) -> AppConfig.Schedule {
        var s = AppConfig.Schedule()
        if let v = try r.duration("interval", minimum: ConfigBounds.pollIntervalMinimum) { s.interval = v }
        if let v = try r.number("jitter") {
            guard v >= 0, v < 1 else {
                throw r.error("jitter", "must be a fraction of the interval in [0, 1), e.g. 0.1; got \(v)")
            }
            s.jitter = v
        }
        if let v = try r.int("concurrency") {
            guard (1...64).contains(v) else { throw r.error("concurrency", "must be between 1 and 64, got \(v)") }
            s.concurrency = v
        }
        return s
    }

    private static func playlists(_ top: TableReader) throws(ConfigError) -> [AppConfig.Playlist] {
        guard let array = try top.array("playlists") else {
            throw top.error("playlists", "no playlists configured; add at least one [[playlists]] table with an id")
        }
        var result: [AppConfig.Playlist] = []
        var firstIndex: [String: Int] = [:]
        for (i, element) in array.enumerated() {
            let path = "playlists[\(i)]"
            let idKey = path + ".id"
            var rawID: String
            var interval: Double? = nil
            if let s = element.string {
                rawID = s
            } else if let t = element.table {
                let r = try TableReader(t, path: path, file: top.file, allowed: playlistKeys)
                guard let s = try r.string("id") else { throw r.error("id", "missing; every [[playlists]] entry needs an id") }
                rawID = s
                interval = try r.duration("interval", minimum: ConfigBounds.pollIntervalMinimum)
            } else {
                throw ConfigError(file: top.file, key: path,
                                  message: "expected a table with an id (or an id string), got \(ConfigText.article(element.type.description))")
            }
            guard let id = PlaylistID.normalize(rawID) else {
                throw ConfigError(file: top.file, key: idKey, message:
                    "malformed playlist id \(ConfigText.quote(rawID)): expected 22 letters/digits, a spotify:playlist:ID URI or an https://open.spotify.com/playlist/ID URL")
            }
            if let earlier = firstIndex[id] {
                throw ConfigError(file: top.file, key: idKey, message: "duplicate playlist id \(id) (also playlists[\(earlier)])")
            }
            firstIndex[id] = i
            result.append(AppConfig.Playlist(id: id, interval: interval))
        }
        guard !result.isEmpty else {
            throw top.error("playlists", "no playlists configured; add at least one [[playlists]] table with an id")
        }
        return result
    }

    private static func state(_ r: TableReader) throws(ConfigError) -> AppConfig.State {
        var s = AppConfig.State()
        if let v = try r.string("path") { s.path = try path(r, "path", v) }
        return s
    }

    private static func sink(_ r: TableReader) throws(ConfigError) -> AppConfig.Sink {
        var s = AppConfig.Sink()
        if let v = try r.string("kind") { s.kind = try choice(r, "kind", v) }
        if let v = try r.string("path") { s.path = try path(r, "path", v) }
        if let v = try r.string("format") { s.format = try choice(r, "format", v) }
        if let v = try r.string("compression") { s.compression = try choice(r, "compression", v) }
        if let v = try r.int("max_rows") {
            guard (1...10_000_000).contains(v) else { throw r.error("max_rows", "must be between 1 and 10000000, got \(v)") }
            s.maxRows = v
        }
        if let v = try r.byteSize("max_bytes") {
            guard v <= 4 << 30 else { throw r.error("max_bytes", "must be at most 4GiB (objects are built in memory)") }
            s.maxBytes = v
        }
        if let v = try r.duration("max_age", minimum: ConfigBounds.maxAgeMinimum) { s.maxAge = v }

        var s3 = AppConfig.S3()
        if let v = try r.string("bucket") {
            if let problem = ConfigRules.bucketProblem(v) { throw r.error("bucket", "\(problem), got \(ConfigText.quote(v))") }
            s3.bucket = v
        }
        if let v = try r.string("prefix") {
            if let problem = ConfigRules.s3PrefixProblem(v) {
                throw r.error("prefix", "\(problem), got \(ConfigText.quote(v))", violation: .prefixSegment)
            }
            guard !v.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw r.error("prefix", "must not contain control characters, got \(ConfigText.quote(v))")
            }
            guard v.utf8.count <= 512 else { throw r.error("prefix", "must be at most 512 bytes") }
            s3.prefix = v.isEmpty || v.hasSuffix("/") ? v : v + "/"
        }
        if let v = try r.string("region") {
            guard ConfigRules.isRegion(v) else {
                throw r.error("region", "must be an AWS region such as \"us-east-1\", got \(ConfigText.quote(v))")
            }
            s3.region = v
        }
        if let v = try r.string("endpoint") { s3.endpoint = try url(r, "endpoint", v, allowPath: false) }
        if let v = try r.bool("path_style") { s3.pathStyle = v }
        if let v = try r.byteSize("multipart_threshold") {
            // Why these bounds (and no tighter one from the upload policy): ConfigBounds.
            let range = ConfigBounds.multipartThresholdMinimum...ConfigBounds.multipartThresholdMaximum
            guard v >= range.lowerBound else {
                throw r.error("multipart_threshold", "must be at least 5MiB (the S3 minimum part size), got \(v) bytes",
                              violation: .sizeOutOfRange(range))
            }
            guard v <= range.upperBound else {
                throw r.error("multipart_threshold", "must be at most 5GiB (objects below it go up as one PutObject, which S3 caps at 5GiB), got \(v) bytes",
                              violation: .sizeOutOfRange(range))
            }
            s3.multipartThreshold = v
        }
        if let v = try r.string("storage_class") {
            guard ConfigRules.storageClasses.contains(v) else {
                throw r.error("storage_class", "unknown S3 storage class \(ConfigText.quote(v)); expected one of \(ConfigRules.storageClasses.joined(separator: ", "))")
            }
            s3.storageClass = v
        }
        if let v = try r.string("profile") {
            guard !v.isEmpty, v.utf8.count <= 128,
                  !v.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F || $0 == "[" || $0 == "]" }) else {
                throw r.error("profile", "must be a non-empty AWS profile name without spaces or brackets, got \(ConfigText.quote(v))")
            }
            s3.profile = v
        }
        if s.kind == .s3, s3.bucket.isEmpty {
            throw r.error("bucket", "missing: kind = \"s3\" needs a bucket")
        }
        s.s3 = s3
        return s
    }

    private static func metrics(_ r: TableReader) throws(ConfigError) -> AppConfig.Metrics {
        var m = AppConfig.Metrics()
        if let v = try r.duration("interval", minimum: ConfigBounds.metricsIntervalMinimum) { m.interval = v }
        if let v = try r.string("namespace") {
            if let problem = ConfigRules.namespaceProblem(v) { throw r.error("namespace", "\(problem), got \(ConfigText.quote(v))") }
            m.namespace = v
        }
        if let v = try r.string("listen") {
            switch ConfigRules.listenAddress(v) {
            case .success(let l): m.listen = l
            case .failure(let e): throw r.error("listen", "\(e.message), got \(ConfigText.quote(v, limit: 64))")
            }
        }
        return m
    }

    private static func control(_ r: TableReader) throws(ConfigError) -> AppConfig.Control {
        var c = AppConfig.Control()
        if let v = try r.string("socket") {
            let p = try path(r, "socket", v)
            // sockaddr_un.sun_path is 108 bytes including the terminating NUL.
            guard p.utf8.count <= 107 else {
                throw r.error("socket", "Unix socket path is \(p.utf8.count) bytes; the limit is 107")
            }
            c.socket = p
        }
        return c
    }

    // MARK: - Value rules

    private static func url(_ r: TableReader, _ key: String, _ v: String, allowPath: Bool) throws(ConfigError) -> String {
        switch ConfigRules.baseURL(v, allowPath: allowPath) {
        case .success(let u): return u
        case .failure(let e): throw r.error(key, e.message)
        }
    }

    /// A filesystem path: non-empty, no control characters. Relative paths are kept as given
    /// (they resolve against the working directory, `/` under systemd).
    private static func path(_ r: TableReader, _ key: String, _ v: String) throws(ConfigError) -> String {
        guard !v.trimmingWhitespace().isEmpty else { throw r.error(key, "must not be empty") }
        guard !v.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw r.error(key, "path must not contain control characters, got \(ConfigText.quote(v))")
        }
        guard v.utf8.count <= 4095 else { throw r.error(key, "path is longer than 4095 bytes") }
        return v
    }

    private static func choice<T: RawRepresentable & CaseNamed>(_ r: TableReader, _ key: String, _ v: String) throws(ConfigError) -> T where T.RawValue == String {
        guard let t = T(rawValue: v) else {
            let names = T.allNames.map { "\"\($0)\"" }.joined(separator: " or ")
            throw r.error(key, "unknown \(T.what) \(ConfigText.quote(v)); expected \(names)")
        }
        return t
    }
}

/// Names for "expected X or Y" messages of the config enums.
protocol CaseNamed { static var allNames: [String] { get }; static var what: String { get } }
extension AppConfig.AuthMode: CaseNamed {
    static var allNames: [String] { ["client_credentials", "refresh_token"] }
    static var what: String { "auth mode" }
}
extension AppConfig.SinkKind: CaseNamed {
    static var allNames: [String] { ["local", "s3"] }
    static var what: String { "sink kind" }
}
extension AppConfig.Format: CaseNamed {
    static var allNames: [String] { ["ndjson", "csv"] }
    static var what: String { "format" }
}
extension AppConfig.Compression: CaseNamed {
    static var allNames: [String] { ["gzip", "none"] }
    static var what: String { "compression" }
}
