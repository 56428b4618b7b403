import FoundationEssentials
import ETLCore

/// The app's Spotify credentials. `description`, `debugDescription` and the reflection mirror
/// never show the secret or the refresh token, so printing, `dump()` or string interpolation
/// in a log line cannot leak them.
public struct SpotifyCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public var clientID: String
    public var clientSecret: String
    public var refreshToken: String?

    public init(clientID: String, clientSecret: String, refreshToken: String? = nil) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
    }

    public static let clientIDKey = "SPOTIFY_CLIENT_ID"
    public static let clientSecretKey = "SPOTIFY_CLIENT_SECRET"
    public static let refreshTokenKey = "SPOTIFY_REFRESH_TOKEN"

    /// Loads from files in `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`), falling back
    /// to environment variables of the same names. Files win because systemd credentials are
    /// the hardened path and an environment variable may be a stale leftover. Trailing
    /// whitespace/newlines are trimmed (editors and `echo` add one). Empty values count as absent.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> SpotifyCredentials
    {
        let dir = environment["CREDENTIALS_DIRECTORY"].flatMap { $0.isEmpty ? nil : $0 }
        func value(_ key: String) throws -> String? {
            if let dir {
                let path = Paths.join(dir, key)
                if FileManager.default.fileExists(atPath: path) {
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw CredentialsError.unreadable(path: path)
                    }
                    let text = trimTrailing(String(decoding: data, as: UTF8.self))
                    if !text.isEmpty { return text }
                }
            }
            if let env = environment[key].map(trimTrailing), !env.isEmpty { return env }
            return nil
        }
        guard let id = try value(clientIDKey) else { throw CredentialsError.missing(clientIDKey) }
        guard let secret = try value(clientSecretKey) else { throw CredentialsError.missing(clientSecretKey) }
        return SpotifyCredentials(clientID: id, clientSecret: secret, refreshToken: try value(refreshTokenKey))
    }

    private static func trimTrailing(_ s: String) -> String {
        var out = Substring(s)
        while let last = out.last, last.isWhitespace || last.isNewline { out = out.dropLast() }
        return String(out)
    }

    /// The values Redaction must scrub from any text that might contain them.
    var secrets: [String] { [clientSecret] + (refreshToken.map { [$0] } ?? []) }

    public var description: String {
        "SpotifyCredentials(clientID: \(clientID), clientSecret: [REDACTED], refreshToken: "
            + (refreshToken == nil ? "none" : "[REDACTED]") + ")"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["clientID": clientID, "clientSecret": "[REDACTED]",
                                "refreshToken": refreshToken == nil ? "none" : "[REDACTED]"])
    }
}

public enum CredentialsError: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(String)
    case unreadable(path: String)

    public var description: String {
        switch self {
        case .missing(let key):
            return "missing Spotify credential \(key): set it in $CREDENTIALS_DIRECTORY/\(key) or the environment"
        case .unreadable(let path):
            return "cannot read credential file \(path)"
        }
    }
}
