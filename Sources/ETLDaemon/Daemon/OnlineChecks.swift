import ETLConfig
import ETLCore
import ETLExtraction
import ETLHTTP
import ETLSink
import ETLState
import ETLTransform
import FoundationEssentials
import Glibc
import Logging

/// The refresh token `spotifyd-etl login` stored in the state database, read through a
/// read-only SQLite connection: `check-config` must neither create, migrate nor write the
/// database a running daemon owns.
public enum StoredRefreshToken {
    public enum Lookup: Sendable {
        /// The token itself: a secret, never printed.
        case found(String)
        /// Why there is none, for the operator ("the state database ... does not exist").
        case absent(reason: String)
    }

    /// The token the daemon would start with (`RefreshTokenLineage`): the stored chain while
    /// the supplied token is the one it began with, else the supplied token; the stored one
    /// when none is supplied. `origin` goes with any token rotated from it.
    public static func choose(supplied: String?, statePath: String)
        -> (token: String?, origin: String?, fromStore: Bool, note: String?)
    {
        var stored: RefreshTokenLineage.Stored?
        var note: String?
        switch read(statePath: statePath) {
        case .found(let token):
            let origin: String?
            if case .found(let o) = ReadOnlyKV.read(path: statePath, key: RefreshTokenKeeper.originKey) { origin = o } else { origin = nil }
            stored = RefreshTokenLineage.Stored(token: token, origin: origin)
        case .absent(let reason):
            note = reason
        }
        let choice = RefreshTokenLineage.choose(supplied: supplied, stored: stored)
        return (choice.token, choice.origin, choice.source == .stored, note)
    }

    public static func read(statePath: String) -> Lookup {
        switch ReadOnlyKV.read(path: statePath, key: Components.storedRefreshTokenKey) {
        case .found(let token): return .found(token)
        case .noDatabase: return .absent(reason: "the state database \(statePath) does not exist")
        case .notStored: return .absent(reason: "the state database \(statePath) holds no refresh token")
        case .unreadable(let why): return .absent(reason: "the state database \(statePath) cannot be read: \(why)")
        }
    }
}

/// One line of `check-config --online`: `name: ok (detail)`, `name: <error>` or
/// `name: skipped (why)`.
public struct CheckResult: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case ok
        /// Something an operator must fix in the config or credentials (exit 78).
        case configError
        /// A remote check failed (exit 69).
        case unavailable
        /// Not attempted because an earlier check failed.
        case skipped
    }

    public var name: String
    public var outcome: Outcome
    public var detail: String

    public init(_ name: String, _ outcome: Outcome, _ detail: String = "") {
        self.name = name
        self.outcome = outcome
        self.detail = detail
    }

    public var line: String {
        switch outcome {
        case .ok: return detail.isEmpty ? "\(name): ok" : "\(name): ok (\(detail))"
        case .skipped: return "\(name): skipped (\(detail))"
        case .configError, .unavailable: return "\(name): \(detail)"
        }
    }
}

/// The remote half of `check-config --online`: the same parts the daemon builds (token
/// provider, Spotify client, S3 client with the daemon's credential chain), each asked to do
/// one small real thing. Every message is redacted against every secret in play.
public struct OnlineChecks: Sendable {
    public let config: AppConfig
    public let secrets: SpotifySecrets
    public let environment: [String: String]
    public let transport: HTTPTransport

    /// - Parameter secrets: complete for the configured auth mode (the caller has checked
    ///   them and filled in a stored refresh token).
    public init(config: AppConfig, secrets: SpotifySecrets,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                transport: HTTPTransport = CurlHTTPClient()) {
        self.config = config
        self.secrets = secrets
        self.environment = environment
        self.transport = transport
    }

    private static let quiet = Logger(label: "spotifyd-etl.check-config", factory: { _ in SwiftLogNoOpLogHandler() })

    /// `spotify token`, then `spotify playlist <first id>`. Each result is handed to `emit`
    /// as soon as it is known.
    /// - Parameter onRefreshTokenRotated: the accounts service replaced the refresh token
    ///   (the old one may stop working); the caller stores the new one where the daemon finds it.
    public func spotify(onRefreshTokenRotated: @escaping @Sendable (String) -> Void,
                        emit: (CheckResult) -> Void) {
        guard let id = secrets.clientID, let secret = secrets.clientSecret else {
            emit(CheckResult("spotify token", .skipped, "secrets missing"))
            return
        }
        let credentials = SpotifyCredentials(clientID: id, clientSecret: secret, refreshToken: secrets.refreshToken)
        let retry = RetryPolicy(maxAttempts: 2)
        let tokens = TokenProvider(credentials: credentials,
                                   grant: config.spotify.auth == .refreshToken ? .refreshToken : .clientCredentials,
                                   accountsURL: config.spotify.accountsURL, transport: transport,
                                   timeout: config.spotify.requestTimeout, retry: retry, logger: Self.quiet,
                                   onRefreshTokenRotated: onRefreshTokenRotated)
        do {
            _ = try tokens.accessToken()
            emit(CheckResult("spotify token", .ok, config.spotify.auth == .refreshToken ? "refresh_token" : "client_credentials"))
        } catch {
            emit(CheckResult("spotify token", .unavailable, redact("\(error)")))
            if let first = config.playlists.first {
                emit(CheckResult("spotify playlist \(first.id)", .skipped, "no token"))
            }
            return
        }
        guard let first = config.playlists.first else { return }
        let client = SpotifyClient(settings: SpotifyClientSettings(apiURL: config.spotify.apiURL,
                                                                   accountsURL: config.spotify.accountsURL,
                                                                   market: config.spotify.market,
                                                                   additionalTypes: config.spotify.additionalTypes,
                                                                   timeout: config.spotify.requestTimeout),
                                   tokens: tokens, gate: RateGate(), transport: transport,
                                   capabilities: InMemoryCapabilityStore(), logger: Self.quiet, retry: retry)
        let name = "spotify playlist \(first.id)"
        do {
            let body = try client.playlistMetadata(first.id)
            if let title = (try? JSONParser.parse(Array(body)))?["name"]?.stringValue {
                emit(CheckResult(name, .ok, "\"\(Self.printable(title))\""))
            } else {
                emit(CheckResult(name, .ok))
            }
        } catch {
            emit(CheckResult(name, .unavailable, redact("\(error)")))
        }
    }

    /// For `sink.kind = "s3"`: `s3 credentials` (the daemon's chain), `s3 write` (a small
    /// probe object under the prefix) and `s3 delete` (the probe again).
    public func s3(emit: (CheckResult) -> Void) {
        guard config.sink.kind == .s3 else { return }
        let s = config.sink.s3
        let chain = CredentialsChain(environment: environment, profile: s.profile, transport: transport)
        let creds: AWSCredentials
        do {
            creds = try chain.credentials()
            emit(CheckResult("s3 credentials", .ok, creds.source))
        } catch {
            emit(CheckResult("s3 credentials", .unavailable, redact("\(error)")))
            emit(CheckResult("s3 write", .skipped, "no credentials"))
            emit(CheckResult("s3 delete", .skipped, "no credentials"))
            return
        }
        let client: S3Client
        do {
            client = try S3Client(settings: S3SinkFactory.settings(s), credentials: StaticCredentialsProvider(creds),
                                  transport: transport, retry: S3RetryPolicy(maxAttempts: 2))
        } catch {
            emit(CheckResult("s3 write", .configError, redact("\(error)", aws: creds)))
            return
        }
        let key = s.prefix + Self.probeKey()
        let location = "s3://\(s.bucket)/\(key)"
        do {
            try client.putObject(key: key, body: Data("spotifyd-etl check-config probe; safe to delete\n".utf8),
                                 contentType: "text/plain")
            emit(CheckResult("s3 write", .ok, location))
        } catch {
            emit(CheckResult("s3 write", .unavailable, redact("\(error)", aws: creds)))
            emit(CheckResult("s3 delete", .skipped, "nothing written"))
            return
        }
        do {
            try client.deleteObject(key: key)
            emit(CheckResult("s3 delete", .ok))
        } catch {
            emit(CheckResult("s3 delete", .unavailable, redact("\(error) (the probe object \(location) is left behind)", aws: creds)))
        }
    }

    /// `_spotifyd-etl-probe/<hostname>-<pid>-<unix seconds>`, appended to the prefix.
    static func probeKey() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        var host = "host"
        if gethostname(&buf, buf.count - 1) == 0 {
            host = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        host = String(host.unicodeScalars.map { s -> Character in
            s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s)) || s == "-" || s == "." ? Character(s) : "_"
        })
        if host.isEmpty { host = "host" }
        return "_spotifyd-etl-probe/\(host)-\(getpid())-\(Int(Date().timeIntervalSince1970))"
    }

    /// Control characters (a playlist name is the API's text) would break the one-line output.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) })
    }

    private func redact(_ text: String, aws: AWSCredentials? = nil) -> String {
        Redaction.redact(text, secrets: secrets.all + (aws?.secrets ?? []))
    }
}

extension OnlineChecks {
    /// What `Components` would reject when building the sink, found without building it (no
    /// directory is created, nothing is sent): for S3, settings `S3Endpoint` refuses.
    public static func sinkProblem(_ config: AppConfig) -> ConfigError? {
        guard config.sink.kind == .s3 else { return nil }
        do {
            _ = try S3Endpoint(settings: S3SinkFactory.settings(config.sink.s3))
            return nil
        } catch let e as S3ConfigError {
            return ConfigError(file: config.sourcePath, key: "sink.endpoint", message: e.message)
        } catch {
            return ConfigError(file: config.sourcePath, key: "sink", message: "\(error)")
        }
    }
}
