import ETLCore
import ETLExtraction
import ETLState
import FoundationEssentials
import Logging

/// Keeps the newest Spotify refresh token in the state database.
///
/// Spotify may answer a refresh with a new refresh token and retire the one that was sent, so
/// a rotated token that is not saved is lost at the next restart. A save that fails (disk
/// full, read-only database) keeps the token pending: it is tried again before later polls,
/// with a growing pause (2 s doubling to 5 min), and `status` shows it as unsaved until then.
/// The token is saved together with the origin of its chain (`RefreshTokenLineage`), in one
/// transaction.
public final class RefreshTokenKeeper: Sendable {
    /// Where the token lives (also written by `spotifyd-etl login`).
    public static let tokenKey = "spotify.refresh_token"
    /// The fingerprint of the operator-supplied token the stored one descends from; absent for
    /// a chain that began with `login`.
    public static let originKey = "spotify.refresh_token.origin"

    static let firstRetry: Double = 2
    static let maxRetry: Double = 300

    /// A rotated token the state database has not taken yet.
    public struct Unsaved: Sendable, Equatable {
        public var since: Date
        /// Why the last attempt failed, as shown to people (never the token).
        public var error: String
        public var attempts: Int
        public var nextAttempt: Date
    }

    private struct State {
        var pending: String?
        var unsaved: Unsaved?
    }

    private let store: StateStore
    private let origin: String?
    private let clock: Clock
    private let logger: Logger
    private let state = Guarded(State())
    /// Held for a whole save, so an older token never lands after a newer one.
    private let saving = Lock()

    /// - Parameter origin: recorded with every token saved (`RefreshTokenLineage.Choice.origin`).
    public init(store: StateStore, origin: String?, clock: Clock = SystemClock(), logger: Logger) {
        self.store = store
        self.origin = origin
        self.clock = clock
        self.logger = logger
    }

    /// The token to start with, given the operator-supplied one (file or environment) and what
    /// the state database holds. A stored chain the operator has since replaced is deleted
    /// (best effort: it is never chosen again either way).
    public static func choose(supplied: String?, store: StateStore) throws -> RefreshTokenLineage.Choice {
        let stored = try store.get(tokenKey).map { RefreshTokenLineage.Stored(token: $0, origin: try store.get(originKey)) }
        let choice = RefreshTokenLineage.choose(supplied: supplied, stored: stored)
        if choice.storedIsObsolete { try? store.set([(key: tokenKey, value: nil), (key: originKey, value: nil)]) }
        return choice
    }

    /// Spotify rotated the refresh token: save it now, or keep it pending.
    public func rotated(_ token: String) {
        state.withLock { $0.pending = token }
        save()
    }

    /// Tries a pending save again once its pause is over; cheap when nothing is pending.
    public func retryIfDue() {
        let now = clock.now()
        let due = state.withLock { s in s.pending != nil && (s.unsaved.map { now >= $0.nextAttempt } ?? true) }
        if due { save() }
    }

    /// Set while the newest refresh token is not in the state database.
    public var unsaved: Unsaved? { state.withLock { $0.unsaved } }

    private func save() {
        saving.withLock {
            guard let token = state.withLock({ $0.pending }) else { return }
            do {
                try store.set([(key: Self.tokenKey, value: token), (key: Self.originKey, value: origin)])
                let recovered = state.withLock { s -> Unsaved? in
                    // A newer token that arrived meanwhile stays pending for its own save.
                    guard s.pending == token else { return nil }
                    s.pending = nil
                    defer { s.unsaved = nil }
                    return s.unsaved
                }
                if let recovered {
                    logger.notice("saved the rotated Spotify refresh token after \(LogText.counted(recovered.attempts + 1, "attempt"))")
                } else {
                    logger.info("saved the rotated Spotify refresh token in the state database")
                }
            } catch {
                let now = clock.now()
                let text = "\(error)"
                let first = state.withLock { s -> Bool in
                    let attempts = (s.unsaved?.attempts ?? 0) + 1
                    let pause = min(Self.maxRetry, Self.firstRetry * Double(1 << min(attempts - 1, 16)))
                    let first = s.unsaved == nil
                    s.unsaved = Unsaved(since: s.unsaved?.since ?? now, error: text, attempts: attempts,
                                        nextAttempt: now.addingTimeInterval(pause))
                    return first
                }
                logger.log(level: first ? .error : .debug,
                           "cannot save the rotated Spotify refresh token: \(LogText.escaped(text)); retrying before later polls (a restart before it is saved starts with the superseded token)",
                           metadata: ["error_code": "refresh_token_unsaved"])
            }
        }
    }
}
