import Crypto
import FoundationEssentials

/// Which refresh token to start with, when an operator-supplied one (a `$CREDENTIALS_DIRECTORY`
/// file or the environment variable) and a stored one (saved by `login` or after Spotify rotated
/// a token) may both exist. Pure.
///
/// WHY an origin: Spotify may answer a refresh with a new refresh token and retire the old one.
/// The daemon stores the new one, but the operator's file still holds the old one, so "the
/// file wins" would start the next run with a dead token. A stored token therefore records the
/// fingerprint of the operator token its chain descends from. While the file still holds that
/// token, the stored one is newer and wins; once the operator puts a different token in the
/// file, that token is newer and wins, and the stored chain is obsolete.
public enum RefreshTokenLineage {
    /// A stored refresh token and the fingerprint of the operator token it descends from
    /// (nil when it descends from a `login`, not from an operator-supplied token).
    public struct Stored: Sendable, Equatable {
        public var token: String
        public var origin: String?
        public init(token: String, origin: String?) { self.token = token; self.origin = origin }
    }

    /// The token to start with and where it came from.
    public struct Choice: Sendable, Equatable {
        public enum Source: String, Sendable, Equatable {
            /// The operator-supplied token (file or environment).
            case supplied
            /// The stored token: rotated from the supplied one, or saved by `login`.
            case stored
            case none
        }
        public var token: String?
        /// The origin to record with any token rotated from `token`.
        public var origin: String?
        public var source: Source
        /// The stored token descends from a supplied token the operator has since replaced:
        /// it is obsolete and should be deleted.
        public var storedIsObsolete: Bool
        public init(token: String?, origin: String?, source: Source, storedIsObsolete: Bool) {
            self.token = token; self.origin = origin; self.source = source; self.storedIsObsolete = storedIsObsolete
        }
    }

    /// `"sha256:<hex>"` of the token. Stored beside the rotated token in the state database
    /// (mode 0600); it identifies the operator's token without holding it.
    public static func fingerprint(_ token: String) -> String {
        "sha256:" + SHA256.hash(data: Data(token.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// - supplied and stored, stored descends from the supplied token: the stored one (newer);
    /// - supplied and stored, stored descends from another supplied token: the supplied one,
    ///   and the stored one is obsolete;
    /// - supplied and a stored one from `login` (no origin): the supplied one (the documented
    ///   precedence; the login token is kept for when the supplied one is removed);
    /// - only one of them: that one.
    public static func choose(supplied: String?, stored: Stored?) -> Choice {
        guard let supplied else {
            guard let stored else { return Choice(token: nil, origin: nil, source: .none, storedIsObsolete: false) }
            return Choice(token: stored.token, origin: stored.origin, source: .stored, storedIsObsolete: false)
        }
        let print = fingerprint(supplied)
        if let stored, stored.origin == print {
            return Choice(token: stored.token, origin: print, source: .stored, storedIsObsolete: false)
        }
        return Choice(token: supplied, origin: print, source: .supplied,
                      storedIsObsolete: stored?.origin != nil)
    }
}
