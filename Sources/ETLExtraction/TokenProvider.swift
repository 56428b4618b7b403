import ETLCore
import ETLHTTP
import FoundationEssentials
import ETLTransform
import Glibc
import Logging

/// Access tokens for the Web API, shared by all workers.
///
/// WHY a cache with a 60 s margin: a token that expires while a 50-page scan is in flight
/// would cost a 401 and a retry per worker; refreshing proactively keeps the 401 path for the
/// rare revocation. Fetches are serialised so N workers seeing an expired token cause one
/// token request, not N.
public final class TokenProvider: @unchecked Sendable {
    public enum Grant: String, Sendable {
        case clientCredentials = "client_credentials"
        case refreshToken = "refresh_token"
    }

    /// Refresh this long before the token's stated expiry.
    public static let refreshMargin: Double = 60

    private struct Cached {
        var token: String
        var expiresAt: Date
    }

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

    private let stateLock = Lock()
    private let fetchLock = Lock()
    private var cached: Cached?
    private var refreshToken: String?
    private var requests = 0

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
        self.refreshToken = credentials.refreshToken
        self.grant = grant
        self.tokenURL = TokenProvider.trimSlash(accountsURL) + "/api/token"
        self.transport = transport
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
        stateLock.lock(); defer { stateLock.unlock() }
        return cached?.expiresAt
    }

    /// Number of requests sent to the token endpoint (metrics, tests).
    public var requestCount: Int {
        stateLock.lock(); defer { stateLock.unlock() }
        return requests
    }

    /// The refresh token currently in use (after any rotation).
    public var currentRefreshToken: String? {
        stateLock.lock(); defer { stateLock.unlock() }
        return refreshToken
    }

    /// Values that must never appear in any text we emit.
    var secrets: [String] {
        stateLock.lock(); defer { stateLock.unlock() }
        return [clientSecret] + [refreshToken, cached?.token].compactMap { $0 }
    }

    /// A valid access token, fetching one when none is cached or it expires within 60 s.
    /// Throws `SpotifyError` (`.deferred` for a 429 from the accounts service — the caller
    /// shuts the shared gate).
    public func accessToken() throws -> String {
        if let t = validToken() { return t }
        fetchLock.lock(); defer { fetchLock.unlock() }
        if let t = validToken() { return t }  // another worker refreshed while we waited
        return try fetch()
    }

    /// Drops the cached token after a 401. With `token`, only when it is still the cached one,
    /// so two workers failing with the same stale token cause one refresh, not two.
    public func invalidate(token: String? = nil) {
        stateLock.lock(); defer { stateLock.unlock() }
        if token == nil || cached?.token == token { cached = nil }
    }

    private func validToken() -> String? {
        let now = clock.now()
        stateLock.lock(); defer { stateLock.unlock() }
        guard let c = cached, now < c.expiresAt.addingTimeInterval(-TokenProvider.refreshMargin) else { return nil }
        return c.token
    }

    private func fetch() throws -> String {
        var form: [(String, String)] = [("grant_type", grant.rawValue)]
        if grant == .refreshToken {
            guard let rt = currentRefreshToken else {
                throw SpotifyError.authFailed(
                    "auth mode refresh_token needs SPOTIFY_REFRESH_TOKEN; run `spotifyd-etl login` to obtain one")
            }
            form.append(("refresh_token", rt))
        }
        let request = HTTPRequest(method: "POST", url: tokenURL, headers: [
            ("Authorization", TokenProvider.basicAuth(clientID, clientSecret)),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ], body: Data(URLEncoding.form(form).utf8), timeout: timeout)

        var lastProblem = ""
        for attempt in 1...retry.maxAttempts {
            let sentAt = clock.now()
            stateLock.lock(); requests += 1; stateLock.unlock()
            let response: HTTPResponse
            do {
                response = try transport.send(request)
            } catch {
                lastProblem = Redaction.redact("\(error)", secrets: secrets)
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
                lastProblem = "HTTP \(response.status): \(message)"
                logger.warning("token endpoint transient failure", metadata: [
                    "http_status": "\(response.status)", "attempt": "\(attempt)"])
                if attempt < retry.maxAttempts { sleeper.sleep(seconds: retry.delay(afterAttempt: attempt)) }
                continue
            }
            if response.status == 429 {
                let d = RateGate.deferral(retryAfterHeader: response.header("retry-after"), body: response.body,
                                          now: clock.now())
                logger.warning("token endpoint rate limited", metadata: [
                    "http_status": "429", "retry_after_s": "\(Int(d.until.timeIntervalSince(clock.now()).rounded(.up)))"])
                throw SpotifyError.deferred(until: d.until, reason: d.reason)
            }
            if api.code == "invalid_grant" && grant == .refreshToken {
                logger.error("refresh token rejected", metadata: ["http_status": "\(response.status)",
                                                                   "error_code": "invalid_grant"])
                throw SpotifyError.refreshTokenExpired
            }
            let code = api.code.map { " (\($0))" } ?? ""
            logger.error("token request rejected", metadata: ["http_status": "\(response.status)",
                                                               "error_code": "\(api.code ?? "http_\(response.status)")"])
            throw SpotifyError.authFailed("token endpoint answered HTTP \(response.status)\(code): \(message)")
        }
        throw SpotifyError.retriesExhausted("POST \(tokenURL): \(lastProblem) after \(retry.maxAttempts) attempts")
    }

    /// Parses a 2xx token response. A body we cannot use is an auth failure naming what is
    /// missing; the body itself is never quoted since it may hold a token.
    private func accept(_ response: HTTPResponse, sentAt: Date) throws -> String {
        guard let obj = try? JSONParser.parse(Array(response.body)), obj.objectValue != nil else {
            throw SpotifyError.authFailed("malformed token response from \(tokenURL): body is not a JSON object")
        }
        guard let token = obj["access_token"]?.stringValue, !token.isEmpty else {
            throw SpotifyError.authFailed("malformed token response from \(tokenURL): missing access_token")
        }
        guard let expiresIn = obj["expires_in"]?.numberValue, expiresIn.isFinite, expiresIn > 0 else {
            throw SpotifyError.authFailed("malformed token response from \(tokenURL): missing or invalid expires_in")
        }
        if let type = obj["token_type"]?.stringValue, type.lowercased() != "bearer" {
            throw SpotifyError.authFailed("malformed token response from \(tokenURL): token_type \(type) is not Bearer")
        }
        // Expiry counted from when the request was sent: conservative by the round-trip time.
        let expiresAt = sentAt.addingTimeInterval(expiresIn)
        var rotated: String?
        stateLock.lock()
        cached = Cached(token: token, expiresAt: expiresAt)
        if let rt = obj["refresh_token"]?.stringValue, !rt.isEmpty, rt != refreshToken, grant == .refreshToken {
            refreshToken = rt
            rotated = rt
        }
        stateLock.unlock()
        logger.info("obtained Spotify access token", metadata: [
            "grant": "\(grant.rawValue)", "expires_at": "\(Timestamp.iso(expiresAt))"])
        if let rotated {
            logger.info("Spotify rotated the refresh token; persisting the new one")
            onRefreshTokenRotated?(rotated)
        }
        return token
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
