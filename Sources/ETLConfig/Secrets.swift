import FoundationEssentials
import ETLCore

/// The Spotify app credentials. They never live in the TOML file (which is world-readable
/// under /etc); they come from systemd credentials or the environment. `description` and
/// the mirror redact every value so a stray `print` or log interpolation cannot leak them.
public struct SpotifySecrets: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var clientID: String?
    public var clientSecret: String?
    public var refreshToken: String?

    public init(clientID: String? = nil, clientSecret: String? = nil, refreshToken: String? = nil) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
    }

    /// Every present value, for `Redaction.redact(_:secrets:)`.
    public var all: [String] { [clientID, clientSecret, refreshToken].compactMap { $0 } }

    public var description: String {
        func show(_ v: String?) -> String { v == nil ? "absent" : "[REDACTED]" }
        return "SpotifySecrets(clientID: \(show(clientID)), clientSecret: \(show(clientSecret)), refreshToken: \(show(refreshToken)))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["clientID": clientID == nil ? "absent" : "[REDACTED]",
                                "clientSecret": clientSecret == nil ? "absent" : "[REDACTED]",
                                "refreshToken": refreshToken == nil ? "absent" : "[REDACTED]"])
    }
}

/// Where secrets come from, and the check that the ones the configured auth mode needs exist.
public enum Secrets {
    public static let clientIDName = "SPOTIFY_CLIENT_ID"
    public static let clientSecretName = "SPOTIFY_CLIENT_SECRET"
    public static let refreshTokenName = "SPOTIFY_REFRESH_TOKEN"
    /// Set by systemd for `LoadCredential=`/`SetCredentialEncrypted=`.
    public static let credentialsDirectoryName = "CREDENTIALS_DIRECTORY"

    /// Secrets from files in `$CREDENTIALS_DIRECTORY` (named like the variables), falling
    /// back to the environment variables. Files win: systemd credentials are the deliberate,
    /// non-inherited source. Trailing whitespace/newlines (from `echo` or editors) are trimmed;
    /// empty values count as absent. An unreadable file falls back to the environment.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) -> SpotifySecrets {
        let dir = environment[credentialsDirectoryName].flatMap { $0.isEmpty ? nil : $0 }
        func value(_ name: String) -> String? {
            if let dir, let fromFile = readCredential(directory: dir, name: name) { return fromFile }
            return environment[name].flatMap(clean)
        }
        return SpotifySecrets(clientID: value(clientIDName), clientSecret: value(clientSecretName),
                              refreshToken: value(refreshTokenName))
    }

    /// Fails when the configured auth mode lacks a secret: throws the first of
    /// `missingSecrets`. The error names the missing variable and where it is looked for,
    /// never a value.
    /// - Parameter storedRefreshTokenAvailable: a refresh token saved by `spotifyd-etl login`
    ///   (in the state database) satisfies `auth = "refresh_token"`.
    public static func requireSecrets(_ config: AppConfig, _ secrets: SpotifySecrets,
                                      storedRefreshTokenAvailable: Bool) throws(ConfigError) {
        if let first = missingSecrets(config, secrets, storedRefreshTokenAvailable: storedRefreshTokenAvailable).first {
            throw first
        }
    }

    /// Every secret the configured auth mode lacks, one error each (client id, client secret,
    /// refresh token, in that order), each naming the variable and where it is looked for,
    /// never a value. Accepts exactly what `requireSecrets` accepts.
    /// - Parameters:
    ///   - environment: when given, each message also says whether `CREDENTIALS_DIRECTORY`
    ///     was set (and to what), i.e. where exactly the file was looked for.
    ///   - storedRefreshTokenNote: why no stored refresh token was found (e.g. "the state
    ///     database /var/lib/x/state.db does not exist"), added to the refresh-token message.
    public static func missingSecrets(_ config: AppConfig, _ secrets: SpotifySecrets, storedRefreshTokenAvailable: Bool,
                                      environment: [String: String]? = nil,
                                      storedRefreshTokenNote: String? = nil) -> [ConfigError] {
        let file = config.sourcePath.isEmpty ? "config" : config.sourcePath
        func located(_ name: String) -> String {
            guard let environment else { return "" }
            if let dir = environment[credentialsDirectoryName], !dir.isEmpty {
                return "; looked in \(Paths.join(dir, name)) and in the environment (\(credentialsDirectoryName) is set)"
            }
            return "; looked in the environment only (\(credentialsDirectoryName) is not set)"
        }
        func missing(_ name: String) -> ConfigError {
            ConfigError(file: file, key: name, message: "missing: set the \(name) environment variable or put it in the file $\(credentialsDirectoryName)/\(name) (systemd LoadCredential=)\(located(name))")
        }
        var errors: [ConfigError] = []
        if secrets.clientID == nil { errors.append(missing(clientIDName)) }
        if secrets.clientSecret == nil { errors.append(missing(clientSecretName)) }
        if config.spotify.auth == .refreshToken, secrets.refreshToken == nil, !storedRefreshTokenAvailable {
            let note = storedRefreshTokenNote.map { " (\($0))" } ?? ""
            errors.append(ConfigError(file: file, key: refreshTokenName,
                                      message: "missing: spotify.auth = \"refresh_token\" needs a refresh token; run `spotifyd-etl login` to store one in the state database\(note), or set the \(refreshTokenName) environment variable or the file $\(credentialsDirectoryName)/\(refreshTokenName)\(located(refreshTokenName))"))
        }
        return errors
    }

    private static func readCredential(directory: String, name: String) -> String? {
        let path = Paths.join(directory, name)
        guard let data = FileManager.default.contents(atPath: path), data.count <= 64 << 10,
              let text = String(data: data, encoding: .utf8) else { return nil }
        return clean(text)
    }

    private static func clean(_ raw: String) -> String? {
        var s = Substring(raw)
        while let last = s.last, last.isWhitespace || last.isNewline { s = s.dropLast() }
        return s.isEmpty ? nil : String(s)
    }
}
