import ETLCore
import ETLHTTP
import FoundationEssentials
import ETLTransform
import Glibc
import Logging
import Synchronization

/// Access tokens for the Web API, shared by all workers.
///
/// WHY a cache with a 60 s margin: a token that expires while a 50-page scan is in flight
/// would cost a 401 and a retry per worker; refreshing proactively keeps the 401 path for the
/// rare revocation. Fetches are serialised so N workers seeing an expired token cause one
/// token request, not N.
public final class TokenProvider: Sendable {
    public enum Grant: String, Sendable {
        case clientCredentials = "client_credentials"
        case refreshToken = "refresh_token"
    }

    /// Refresh this long before the token's stated expiry (half the lifetime for a token that
    /// lives less than two margins).
    public static let refreshMargin: Double = 60
    /// The range a token reply's `expires_in` is read into: a 0, negative or 10^20 s lifetime
    /// from a broken or hostile peer becomes one the cache can live with (Spotify says 3600).
    public static let lifetimeRange: ClosedRange<Double> = 60...86_400

    private struct Cached {
        var token: String
        var expiresAt: Date
        /// When workers stop using it and fetch the next one.
        var refreshAt: Date
    }

    private struct State {
        var cached: Cached?
        var refreshToken: String?
        var requests = 0
        /// The refresh token the accounts service last refused (`invalid_grant`) and when.
        var rejected: (token: String, at: Date)?
    }

    /// How long a refused refresh token is not offered again. `invalid_grant` is final for
    /// that token in practice (expired after six months, or revoked), and without this every
    /// poll would send the accounts service one futile request per playlist (hundreds per
    /// interval); it is still re-tried this often, so a token restored on Spotify's side (or a
    /// refusal by mistake) heals by itself within seconds.
    public static let rejectedRefreshTokenQuiet: TimeInterval = 15

    private let clientID: String
    private let clientSecret: String
    private let grant: Grant
    private let tokenURL: String
    private let transport: HTTPTransport
    private let clock: ETLCore.Clock
    private let timeout: Double
    private let retry: RetryPolicy
    private let sleeper: Sleeper
    private let logger: Logger
    private let onRefreshTokenRotated: (@Sendable (String) -> Void)?

    private let state: Guarded<State>
    /// Held for a whole token fetch, so workers that find the token expired together send
    /// one request; the state stays readable meanwhile.
    private let fetching = Lock()

    /// - Parameter onRefreshTokenRotated: called (outside any lock) with a new refresh token
    ///   when the accounts service rotates it, so the daemon can persist it; the old one may
    ///   stop working.
    public init(credentials: SpotifyCredentials, grant: Grant, accountsURL: String, transport: HTTPTransport,
                clock: ETLCore.Clock = SystemClock(), timeout: Double = 30, retry: RetryPolicy = RetryPolicy(),
                sleeper: Sleeper = ThreadSleeper(), logger: Logger = Logger(label: "spotifyd-etl.token"),
                onRefreshTokenRotated: (@Sendable (String) -> Void)? = nil)
    {
        self.clientID = credentials.clientID
        self.clientSecret = credentials.clientSecret
        self.state = Guarded(State(refreshToken: credentials.refreshToken))
        self.grant = grant
        self.tokenURL = TokenProvider.trimSlash(accountsURL) + "/api/token"
        self.transport = RequestLog.wrap(transport, service: "token", logger: logger)
        self.clock = clock
        self.timeout = timeout
        self.retry = retry
        self.sleeper = sleeper
        self.logger = logger
        self.onRefreshTokenRotated = onRefreshTokenRotated
    }

    /// When the cached token expires (for status output); nil when none is cached.
    /// The token itself is never exposed except through `accessToken()`.
    public var tokenExpiry: Date? {
        state.withLock { $0.cached?.expiresAt }
    }

    /// Number of requests sent to the token endpoint (metrics, tests).
    public var requestCount: Int {
        state.withLock { $0.requests }
    }

    /// The refresh token currently in use (after any rotation).
    public var currentRefreshToken: String? {
        state.withLock { $0.refreshToken }
    }

    /// Values that must never appear in any text we emit.
    var secrets: [String] {
        state.withLock { [clientSecret] + [$0.refreshToken, $0.cached?.token].compactMap { $0 } }
    }

    /// A valid access token, fetching one when none is cached or it expires within 60 s.
    /// Throws `SpotifyError` (`.deferred` for a 429 from the accounts service — the caller
    /// shuts the shared gate).
    public func accessToken() throws -> String {
        if let t = validToken() { return t }
        return try fetching.withLock { () throws(SpotifyError) in
            if let t = validToken() { return t }  // another worker refreshed while we waited
            return try fetch()
        }
    }

    /// Drops the cached token after a 401. With `token`, only when it is still the cached one,
    /// so two workers failing with the same stale token cause one refresh, not two.
    public func invalidate(token: String? = nil) {
        state.withLock { s in
            if token == nil || s.cached?.token == token { s.cached = nil }
        }
    }

    private func validToken() -> String? {
        let now = clock.now()
        return state.withLock { s in
            guard let c = s.cached, now < c.refreshAt else { return nil }
            return c.token
        }
    }

    private func fetch() throws(SpotifyError) -> String {
        var form: [(String, String)] = [("grant_type", grant.rawValue)]
        if grant == .refreshToken {
            guard let rt = currentRefreshToken else {
                throw SpotifyError.authFailed(
                    "auth mode refresh_token needs SPOTIFY_REFRESH_TOKEN; run `spotifyd-etl login` to obtain one")
            }
            let now = clock.now()
            if let r = state.withLock({ $0.rejected }), r.token == rt,
               now.timeIntervalSince(r.at) < Self.rejectedRefreshTokenQuiet {
                throw SpotifyError.refreshTokenExpired
            }
            form.append(("refresh_token", rt))
        }
        let request = HTTPRequest(method: "POST", url: tokenURL, headers: [
            ("Authorization", TokenProvider.basicAuth(clientID, clientSecret)),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ], body: Data(URLEncoding.form(form).utf8), timeout: timeout, maxBodyBytes: BodyLimit.token)

        var last: RequestFailure?
        for attempt in 1...retry.maxAttempts {
            let sentAt = clock.now()
            state.withLock { $0.requests += 1 }
            let response: HTTPResponse
            do {
                response = try transport.send(request)
            } catch let e as HTTPTransportError where e.kind == .bodyTooLarge(limit: BodyLimit.token) {
                // Unusable like a malformed reply; asking again at once would fetch the same.
                logger.error("token reply body exceeded \(BodyLimit.describe(BodyLimit.token)) limit (POST \(tokenURL))",
                             metadata: ["error_code": "body_too_large"])
                throw SpotifyError.authFailed(
                    "malformed token response from \(tokenURL): body exceeded \(BodyLimit.describe(BodyLimit.token)) limit")
            } catch {
                let secrets = secrets
                last = RequestFailure.transport(error) { Redaction.redact($0, secrets: secrets) }
                logger.warning("token request failed", metadata: ["error_code": "transport", "attempt": "\(attempt)"])
                if attempt < retry.maxAttempts { sleeper.sleep(seconds: retry.delay(afterAttempt: attempt)) }
                continue
            }
            if (200..<300).contains(response.status) {
                return try accept(response, sentAt: sentAt)
            }
            let api = APIErrorBody.parse(response.body, status: response.status)
            let message = Redaction.redact(api.message, secrets: secrets)
            if RetryPolicy.isRetryable(status: response.status) {
                last = .status(response.status, message: message)
                logger.warning("token endpoint transient failure", metadata: [
                    "http_status": "\(response.status)", "attempt": "\(attempt)"])
                if attempt < retry.maxAttempts { sleeper.sleep(seconds: retry.delay(afterAttempt: attempt)) }
                continue
            }
            if response.status == 429 {
                if let warning = RetryAfter.capWarning(response.header("retry-after"), now: clock.now()) {
                    logger.warning("token endpoint: \(warning)", metadata: ["http_status": "429", "error_code": "retry_after_capped"])
                }
                let d = RateGate.deferral(retryAfterHeader: response.header("retry-after"), body: response.body,
                                          now: clock.now())
                logger.warning("token endpoint rate limited", metadata: [
                    "http_status": "429", "retry_after_s": "\(RetryAfter.wholeSeconds(d.until.timeIntervalSince(clock.now())))"])
                throw SpotifyError.deferred(until: d.until, reason: d.reason, cause: d.cause)
            }
            if api.code == "invalid_grant" && grant == .refreshToken {
                let now = clock.now()
                state.withLock { s in s.rejected = s.refreshToken.map { ($0, now) } }
                logger.error("refresh token rejected", metadata: ["http_status": "\(response.status)",
                                                                   "error_code": "invalid_grant"])
                throw SpotifyError.refreshTokenExpired
            }
            let code = api.code.map { " (\($0))" } ?? ""
            logger.error("token request rejected", metadata: ["http_status": "\(response.status)",
                                                               "error_code": "\(api.code ?? "http_\(response.status)")"])
            throw SpotifyError.authFailed("token endpoint answered HTTP \(response.status)\(code): \(message)")
        }
        throw SpotifyError.retriesExhausted(request: "POST \(tokenURL)", attempts: retry.maxAttempts,
                                            last: last ?? .transport(code: -1, message: "no attempt was made", isTimeout: false))
    }

    /// Parses a 2xx token response. A body we cannot use is an auth failure naming what is
    /// missing; the body itself is never quoted since it may hold a token.
    private func accept(_ response: HTTPResponse, sentAt: Date) throws(SpotifyError) -> String {
        guard let obj = try? JSONParser.parse(Array(response.body)), obj.objectValue != nil else {
            throw SpotifyError.authFailed("malformed token response from \(tokenURL): body is not a JSON object")
        }
        guard let token = obj["access_token"]?.stringValue, !token.isEmpty else {
            throw SpotifyError.authFailed("malformed token response from \(tokenURL): missing access_token")
        }
        guard let stated = obj["expires_in"]?.numberValue, !stated.isNaN else {
            throw SpotifyError.authFailed("malformed token response from \(tokenURL): missing or invalid expires_in")
        }
        let expiresIn = TokenProvider.lifetime(expiresIn: stated)
        if expiresIn != stated {
            logger.warning("token reply's expires_in \(stated) is outside 60 s…24 h; using \(Int(expiresIn)) s",
                           metadata: ["error_code": "expires_in_clamped"])
        }
        if let type = obj["token_type"]?.stringValue, type.lowercased() != "bearer" {
            throw SpotifyError.authFailed("malformed token response from \(tokenURL): token_type \(type) is not Bearer")
        }
        // Expiry counted from when the request was sent: conservative by the round-trip time.
        let expiresAt = sentAt.addingTimeInterval(expiresIn)
        let refreshAt = expiresAt.addingTimeInterval(-min(TokenProvider.refreshMargin, expiresIn / 2))
        let offered = grant == .refreshToken ? obj["refresh_token"]?.stringValue : nil
        let rotated: String? = state.withLock { s in
            s.cached = Cached(token: token, expiresAt: expiresAt, refreshAt: refreshAt)
            guard let rt = offered, !rt.isEmpty, rt != s.refreshToken else { return nil }
            s.refreshToken = rt
            return rt
        }
        logger.info("obtained Spotify access token", metadata: [
            "grant": "\(grant.rawValue)", "expires_at": "\(Timestamp.iso(expiresAt))"])
        if let rotated {
            logger.info("Spotify rotated the refresh token; persisting the new one")
            onRefreshTokenRotated?(rotated)
        }
        return token
    }

    /// A reply's `expires_in` (seconds, any number but NaN) clamped to `lifetimeRange`.
    public static func lifetime(expiresIn: Double) -> Double {
        min(max(expiresIn, lifetimeRange.lowerBound), lifetimeRange.upperBound)
    }

    static func basicAuth(_ id: String, _ secret: String) -> String {
        "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()
    }

    static func trimSlash(_ url: String) -> String {
        var u = url
        while u.hasSuffix("/") { u.removeLast() }
        return u
    }
}
