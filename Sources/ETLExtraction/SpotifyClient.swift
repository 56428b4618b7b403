import ETLCore
import ETLHTTP
import FoundationEssentials
import ETLTransform
import Glibc
import Logging
import Synchronization

/// Where and how the client talks to the Web API. Mirrors `AppConfig.Spotify`; the daemon
/// maps one onto the other (this module does not depend on ETLConfig).
public struct SpotifyClientSettings: Sendable, Equatable {
    public var apiURL: String
    public var accountsURL: String
    public var market: String?
    public var additionalTypes: [String]
    /// Whole-request timeout, seconds.
    public var timeout: Double

    public init(apiURL: String = "https://api.spotify.com/v1", accountsURL: String = "https://accounts.spotify.com",
                market: String? = nil, additionalTypes: [String] = ["track", "episode"], timeout: Double = 30)
    {
        self.apiURL = TokenProvider.trimSlash(apiURL)
        self.accountsURL = TokenProvider.trimSlash(accountsURL)
        self.market = market
        self.additionalTypes = additionalTypes
        self.timeout = timeout
    }
}

/// The Spotify Web API client. Synchronous: each call runs on a scheduler worker thread.
/// Returns raw response bytes; decoding belongs to ETLTransform, so a malformed body is the
/// transform's to reject row by row, never the client's to drop.
///
/// Policies, in the order a request meets them:
/// 1. The shared `RateGate`: when shut, nothing is sent and `.deferred` is thrown.
/// 2. A token from `TokenProvider` (cached, refreshed 60 s early; half-way for a shorter-lived one).
/// 3. 401 → the token is invalidated, refreshed once and the request retried once.
/// 4. 429 → the gate is shut (Retry-After, 30 s default, ≥ 1 h for QUOTA_EXCEEDED) and
///    `.deferred` thrown — every worker then defers without sending.
/// 5. 500/502/503/504 and transport errors → up to 5 attempts, exponential backoff with
///    jitter, each sleep ≤ 2 s; then `.retriesExhausted`.
/// 6. 403/404 on playlist endpoints → `.playlistUnavailable` with the API's message.
public final class SpotifyClient: Sendable {
    /// Maximum page size of /playlists/{id}/items (2026).
    public static let pageLimit = 50
    /// Maximum ids per GET /artists?ids=.
    public static let artistBatchLimit = 50
    /// Metadata fields without items: enough for the `playlists` table and the item count.
    public static let playlistFields = ItemFields.playlistKeys + ",items(total),tracks(total)"
    /// The field a snapshot-only request asks for.
    public static let snapshotFields = "snapshot_id"

    public let settings: SpotifyClientSettings
    private let tokens: TokenProvider
    private let gate: RateGate
    private let transport: HTTPTransport
    private let capabilities: CapabilityStore
    private let logger: Logger
    private let sleeper: Sleeper
    private let retry: RetryPolicy
    private let clock: ETLCore.Clock

    private struct State {
        var requests = 0
        /// Artist bodies fetched recently, so concurrent polls (and a retried poll) fetch an id once.
        var artistCache = BoundedCache<String, Data>(capacity: SpotifyClient.artistCacheCapacity)
        /// Artist ids some worker is fetching right now; others wait for its result rather than
        /// fetch the same id again.
        var artistsInFlight = Set<String>()
        /// Set once /items answered a page whose entries had no `item` key under the `item(...)`
        /// filter (an API that does not honour it): the field list goes under `track(...)` from
        /// then on, for the rest of the process.
        var itemFieldsUnderTrack = false
        var requestsItemFields = true
    }

    private let state = Guarded(State())
    /// Signalled (under its own lock) after `artistsInFlight` shrinks. Waiters check the
    /// in-flight set while holding this lock, and releasers take it after changing the set,
    /// so a release between a waiter's check and its wait is never missed.
    private let artistsReleased = Condition()
    static let artistCacheCapacity = 2048

    /// Send `ItemFields` with item page requests. Tests turn it off to fetch full pages and
    /// compare what the transform makes of both.
    var requestsItemFields: Bool {
        get { state.withLock { $0.requestsItemFields } }
        set { state.withLock { $0.requestsItemFields = newValue } }
    }

    public init(settings: SpotifyClientSettings, tokens: TokenProvider, gate: RateGate, transport: HTTPTransport,
                capabilities: CapabilityStore, logger: Logger, sleeper: Sleeper = ThreadSleeper(),
                retry: RetryPolicy = RetryPolicy(), clock: ETLCore.Clock = SystemClock())
    {
        self.settings = settings
        self.tokens = tokens
        self.gate = gate
        self.transport = RequestLog.wrap(transport, service: "spotify", logger: logger)
        self.capabilities = capabilities
        self.logger = logger
        self.sleeper = sleeper
        self.retry = retry
        self.clock = clock
    }

    /// Requests sent to the Web API (not the token endpoint), every attempt counted.
    public var requestCount: Int {
        state.withLock { $0.requests }
    }

    /// Artist ids whose successful responses are cached.
    public var cachedArtistCount: Int {
        state.withLock { $0.artistCache.count }
    }

    // MARK: - Playlists

    /// GET /playlists/{id} with only the metadata fields (no items).
    public func playlistMetadata(_ id: String) throws -> Data {
        let response = try get(playlistURL(id, fields: SpotifyClient.playlistFields), playlistID: id)
        return try playlistBody(response, playlistID: id)
    }

    /// GET /playlists/{id} with the metadata and the first page of items the playlist object
    /// embeds (up to 100), under one `fields` filter (`ItemFields.playlist`): one answer, one
    /// snapshot. The page is asked under `items` with each entry's `item`; under `tracks` with
    /// `track` once this app is known to need the legacy endpoint; with `track` under `items`
    /// after the `item(...)` fallback (`honouringItem`, which applies to the embedded entries
    /// as to an `/items` page). Without item filtering, the whole playlist object.
    public func playlist(_ id: String) throws -> Data {
        let legacy = capabilities.get(Capability.itemsEndpoint) == Capability.itemsLegacy
        guard let fields = itemFields(legacy: legacy) else {
            return try playlistBody(get(playlistURL(id, fields: nil), playlistID: id), playlistID: id)
        }
        let container = legacy ? "tracks" : "items"
        let itemKey = fields == ItemFields.items ? "item" : "track"
        let url = playlistURL(id, fields: ItemFields.playlist(container: container, itemKey: itemKey))
        let body = try playlistBody(get(url, playlistID: id), playlistID: id)
        return try honouringItem(body, url: url, playlistID: id,
                                 asked: ItemFields.playlist(container: "items", itemKey: "item"),
                                 fallback: ItemFields.playlist(container: "items", itemKey: "track"), embeddedIn: "items")
    }

    /// GET /playlists/{id}?fields=snapshot_id: whether the playlist moved, for one small answer.
    public func playlistSnapshot(_ id: String) throws -> Data {
        try playlistBody(get(playlistURL(id, fields: SpotifyClient.snapshotFields), playlistID: id), playlistID: id)
    }

    /// True once the /items field list is sent under `track(...)` (see `honouringItem`).
    public var itemFieldsFallBackToTrack: Bool {
        state.withLock { $0.itemFieldsUnderTrack }
    }

    /// One page of items, `limit=50` from `offset`, with the `ItemFields` filter. Uses /items,
    /// or /tracks when this app is known to need the legacy endpoint (see `probeLegacy`).
    public func itemsPage(_ id: String, offset: Int) throws -> Data {
        let mode = capabilities.get(Capability.itemsEndpoint)
        if mode == Capability.itemsLegacy {
            return try playlistBody(get(itemsURL(id, offset: offset, legacy: true), playlistID: id), playlistID: id)
        }
        let url = itemsURL(id, offset: offset, legacy: false)
        let response = try get(url, playlistID: id)
        if (200..<300).contains(response.status) {
            if mode != Capability.itemsModern { capabilities.set(Capability.itemsEndpoint, value: Capability.itemsModern) }
            return try honouringItem(response.body, url: url, playlistID: id)
        }
        if response.status == 404, mode == nil, let legacy = try probeLegacy(id, offset: offset) {
            return legacy
        }
        return try playlistBody(response, playlistID: id)
    }

    /// Follows a page's `next` URL. The URL must lie under `api_url`: the bearer token is
    /// never sent to a host a response body named. Spotify's `next` carries the request's
    /// query over, `fields` included; it is set to the current field list all the same, so a
    /// `next` that dropped it, or one minted before the switch to `track(...)`, still asks for
    /// the filtered page this process expects.
    public func itemsPage(url: String) throws -> Data {
        guard url.hasPrefix(settings.apiURL + "/") else {
            throw SpotifyError.malformed("next URL \(Redaction.redact(url)) is not under the configured api_url")
        }
        let id = SpotifyClient.playlistID(inURL: url)
        let legacy = SpotifyClient.isLegacyItemsURL(url)
        guard let fields = itemFields(legacy: legacy) else {
            return try playlistBody(get(url, playlistID: id), playlistID: id)
        }
        let target = ItemFields.url(url, withFields: fields)
        let body = try playlistBody(get(target, playlistID: id), playlistID: id)
        return try honouringItem(body, url: target, playlistID: id ?? "-")
    }

    /// The field list for an item page request: under `track(...)` for the legacy endpoint or
    /// after the fallback, else under `item(...)`; nil when filtering is off.
    private func itemFields(legacy: Bool) -> String? {
        state.withLock { s in
            guard s.requestsItemFields else { return nil }
            if legacy { return ItemFields.tracks }
            return s.itemFieldsUnderTrack ? ItemFields.tracks : ItemFields.items
        }
    }

    /// A 2xx /items body requested with `url` (or a playlist body, whose page is the one
    /// embedded under `embeddedIn`). If that asked for `item(...)` (the filter `asked`) and the
    /// page has entries but not one `item` key — absent, not null: a null `item` is an
    /// unavailable track, and stays a reject — the API did not honour `item(...)`. The answer
    /// is then requested once more with `fallback`, the field list under `track(...)`; if that
    /// one carries `track`, it is used and `track(...)` is remembered for the rest of the
    /// process (one warning). If it carries no `track` either, the entries really lack both
    /// keys: the first body is returned and they become `malformed_entry` rejects as before.
    private func honouringItem(_ body: Data, url: String, playlistID: String, asked: String = ItemFields.items,
                               fallback: String = ItemFields.tracks, embeddedIn: String? = nil) throws -> Data {
        guard ItemFields.fields(in: url) == asked, !ItemFields.containsKey("item", in: body),
              ItemFields.hasObjectEntries(body, embeddedIn: embeddedIn) else { return body }
        let retried = try playlistBody(get(ItemFields.url(url, withFields: fallback), playlistID: playlistID),
                                       playlistID: playlistID)
        guard ItemFields.containsKey("track", in: retried) else { return body }
        let first = state.withLock { s in
            defer { s.itemFieldsUnderTrack = true }
            return !s.itemFieldsUnderTrack
        }
        if first {
            logger.warning("/items entries came without `item` under fields=items(item(...)); requesting items(track(...)) from now on",
                           metadata: ["playlist_id": "\(playlistID)", "error_code": "items_fields_track_fallback"])
        }
        return retried
    }

    /// True for a `…/playlists/{id}/tracks` URL (the legacy endpoint).
    static func isLegacyItemsURL(_ url: String) -> Bool {
        let path = url.prefix { $0 != "?" }
        return path.hasSuffix("/tracks")
    }

    /// Decides whether this app must use the legacy /tracks endpoint. Called only when /items
    /// answered 404 and no choice has been remembered yet.
    ///
    /// The rule: the app is "legacy" only if, for the same playlist, the metadata is readable
    /// AND /tracks answers 2xx. A 404 from a deleted or editorial playlist fails the metadata
    /// check; a 403 (development mode: not owned/collaborative) never reaches here, because it
    /// is about the playlist, not the app. Once /items has answered 2xx for any playlist, the
    /// choice "items" is remembered and 404s are plain playlist errors from then on.
    private func probeLegacy(_ id: String, offset: Int) throws -> Data? {
        let meta = try get(playlistURL(id, fields: "id"), playlistID: id)
        guard (200..<300).contains(meta.status) else { return nil }
        let legacy = try get(itemsURL(id, offset: offset, legacy: true), playlistID: id)
        guard (200..<300).contains(legacy.status) else { return nil }
        capabilities.set(Capability.itemsEndpoint, value: Capability.itemsLegacy)
        logger.warning("/playlists/{id}/items not routed for this app; using legacy /playlists/{id}/tracks from now on",
                       metadata: ["playlist_id": "\(id)", "http_status": "404", "error_code": "items_endpoint_legacy"])
        return legacy.body
    }

    private func playlistBody(_ response: HTTPResponse, playlistID: String?) throws -> Data {
        let status = response.status
        if (200..<300).contains(status) { return response.body }
        let message = redact(APIErrorBody.parse(response.body, status: status).message)
        let error: SpotifyError = (status == 403 || status == 404)
            ? .playlistUnavailable(status: status, message: message)
            : .unexpectedStatus(status: status, message: message)
        logger.warning("playlist request failed: playlist \(LogText.escaped(playlistID ?? "-")): HTTP \(status): \(LogText.escaped(message))", metadata: [
            "playlist_id": "\(playlistID ?? "-")", "http_status": "\(status)", "error_code": "\(error.code)"])
        throw error
    }

    // MARK: - Artists

    /// Artist objects by id, raw bytes per artist; nil for an id that could not be fetched
    /// this time (the caller retries it on a later poll). The last `artistCacheCapacity`
    /// successful results are cached, so an id is not fetched again while it is recent (once a
    /// poll commits, the state DB records the artist and it is not asked for again).
    ///
    /// Uses GET /artists?ids= (≤ 50 per request) until that answers 403 (development mode),
    /// then remembers `artists_batch=forbidden` and fetches GET /artists/{id} one by one.
    /// Throws only for what stops every request: `.deferred`, auth failures.
    public func artists(_ ids: [String]) throws -> [String: Data?] {
        var result: [String: Data?] = [:]
        var missing: [String] = []
        var awaited: [String] = []
        state.withLock { s in
            for id in ids where !id.isEmpty && result[id] == nil {
                result[id] = .some(s.artistCache[id])
                if s.artistCache[id] != nil { continue }
                if s.artistsInFlight.contains(id) { awaited.append(id) } else { missing.append(id); s.artistsInFlight.insert(id) }
            }
        }
        // Release our claims (also when throwing) and wake workers waiting for them — before
        // waiting on anyone else's, so two workers never wait on each other.
        func release() {
            state.withLock { $0.artistsInFlight.subtract(missing) }
            artistsReleased.lock()
            artistsReleased.broadcast()
            artistsReleased.unlock()
        }
        do { try fetchArtists(missing, into: &result) } catch { release(); throw error }
        release()
        if !awaited.isEmpty {
            // Ids another worker is fetching: wait for it (bounded), then take its result.
            let deadline = Date().addingTimeInterval(settings.timeout * Double(retry.maxAttempts) + 5)
            artistsReleased.lock()
            while state.withLock({ s in awaited.contains { s.artistsInFlight.contains($0) } }),
                  artistsReleased.wait(until: deadline) {}
            artistsReleased.unlock()
            state.withLock { s in
                for id in awaited { result[id] = .some(s.artistCache[id]) }
            }
        }
        return result
    }

    private func fetchArtists(_ missing: [String], into result: inout [String: Data?]) throws {
        var next = 0
        while next < missing.count, capabilities.get(Capability.artistsBatch) != Capability.forbidden {
            let chunk = Array(missing[next..<min(next + SpotifyClient.artistBatchLimit, missing.count)])
            let url = settings.apiURL + "/artists?ids=" + chunk.map { URLEncoding.encode($0) }.joined(separator: ",")
            let response: HTTPResponse
            do {
                response = try get(url, playlistID: nil)
            } catch let e as SpotifyError {
                switch e {
                case .retriesExhausted(_, _, let last):
                    logger.warning("artist batch failed; ids left for a later poll", metadata: ["error_code": "retries_exhausted",
                                                                                           "detail": "\(last)"])
                case .malformed:
                    logger.warning("artist batch failed; ids left for a later poll", metadata: ["error_code": "malformed"])
                default:
                    throw e
                }
                next += chunk.count
                continue
            }
            if response.status == 403 {
                capabilities.set(Capability.artistsBatch, value: Capability.forbidden)
                logger.warning("GET /artists?ids= forbidden (development mode); fetching artists one by one from now on",
                               metadata: ["http_status": "403", "error_code": "artists_batch_forbidden"])
                break
            }
            next += chunk.count
            guard (200..<300).contains(response.status) else {
                logger.warning("artist batch failed; ids left for a later poll", metadata: [
                    "http_status": "\(response.status)", "error_code": "http_\(response.status)"])
                continue
            }
            for (id, data) in splitArtists(response.body, requested: chunk) { result[id] = .some(data) }
        }

        if next < missing.count {
            for id in missing[next...] {
                let response: HTTPResponse
                do {
                    response = try get(settings.apiURL + "/artists/" + URLEncoding.encode(id), playlistID: nil)
                } catch SpotifyError.retriesExhausted {
                    continue
                } catch SpotifyError.malformed {
                    continue
                }
                guard (200..<300).contains(response.status) else {
                    logger.warning("artist request failed", metadata: [
                        "artist_id": "\(id)", "http_status": "\(response.status)", "error_code": "http_\(response.status)"])
                    continue
                }
                cacheArtist(id, response.body)
                result[id] = .some(response.body)
            }
        }
    }

    /// Splits `{"artists": [...]}` into one JSON object per requested id (matched by `id`).
    /// Nulls and undecodable bodies give no entry, so those ids stay nil for a later poll.
    private func splitArtists(_ body: Data, requested: [String]) -> [String: Data] {
        guard let obj = try? JSONParser.parse(Array(body)), let list = obj["artists"]?.arrayValue
        else {
            logger.warning("artist batch body is not {\"artists\": [...]}; ids left for a later poll",
                           metadata: ["error_code": "malformed"])
            return [:]
        }
        let wanted = Set(requested)
        var out: [String: Data] = [:]
        for element in list {
            guard element.objectValue != nil, let id = element["id"]?.stringValue, wanted.contains(id) else { continue }
            let data = Data(element.canonicalText.utf8)
            out[id] = data
            cacheArtist(id, data)
        }
        return out
    }

    private func cacheArtist(_ id: String, _ data: Data) {
        state.withLock { $0.artistCache.insert(data, for: id) }
    }

    // MARK: - Transport with policies

    /// Sends a GET under the gate/401/429/5xx policies. Returns 2xx responses and any other
    /// status the caller must interpret (403, 404, 400, …).
    private func get(_ url: String, playlistID: String?) throws -> HTTPResponse {
        var failedAttempts = 0
        var refreshedAfter401 = false
        let path = pathForLog(url)
        while true {
            let now = clock.now()
            if let park = gate.state(now: now) {
                logger.debug("rate gate shut; deferring", metadata: [
                    "playlist_id": "\(playlistID ?? "-")", "error_code": "deferred",
                    "retry_after_s": "\(RetryAfter.wholeSeconds(park.notBefore.timeIntervalSince(now)))"])
                throw SpotifyError.deferred(until: park.notBefore, reason: park.reason, cause: .gateClosed)
            }
            let token: String
            do {
                token = try tokens.accessToken()
            } catch SpotifyError.deferred(let until, let reason, let cause) {
                gate.throttle(until: until, reason: reason, cause: cause)
                throw SpotifyError.deferred(until: until, reason: reason, cause: cause)
            }
            let request = HTTPRequest(method: "GET", url: url, headers: [
                ("Authorization", "Bearer " + token), ("Accept", "application/json"),
            ], timeout: settings.timeout, maxBodyBytes: BodyLimit.apiPage)
            state.withLock { $0.requests += 1 }

            let response: HTTPResponse
            do {
                response = try transport.send(request)
            } catch {
                if let e = error as? HTTPTransportError, case .bodyTooLarge(let limit) = e.kind {
                    // Unusable like a malformed body; the same bytes would come again at once.
                    let what = "response body exceeded \(BodyLimit.describe(limit)) limit (GET \(HTTPRequestLogEntry.safePath(url)))"
                    logger.warning("\(LogText.escaped(what))", metadata: [
                        "playlist_id": "\(playlistID ?? "-")", "error_code": "body_too_large"])
                    throw SpotifyError.malformed(what)
                }
                failedAttempts += 1
                let failure = RequestFailure.transport(error, redact: redact)
                logger.warning("Spotify request failed in transport", metadata: [
                    "playlist_id": "\(playlistID ?? "-")", "error_code": "transport", "attempt": "\(failedAttempts)",
                    "path": "\(path)"])
                try backoff(failedAttempts, last: failure, path: path)
                continue
            }

            switch response.status {
            case 200..<300:
                return response
            case 401:
                let message = redact(APIErrorBody.parse(response.body, status: 401).message)
                if refreshedAfter401 {
                    logger.error("fresh access token rejected", metadata: [
                        "playlist_id": "\(playlistID ?? "-")", "http_status": "401", "error_code": "auth_failed"])
                    throw SpotifyError.authFailed("GET \(path) answered 401 with a freshly issued token: \(message)")
                }
                refreshedAfter401 = true
                logger.info("access token rejected; refreshing once", metadata: [
                    "playlist_id": "\(playlistID ?? "-")", "http_status": "401"])
                tokens.invalidate(token: token)
            case 429:
                let now = clock.now()
                warnIfCapped(response, playlistID: playlistID, now: now)
                let d = RateGate.deferral(retryAfterHeader: response.header("retry-after"), body: response.body, now: now)
                gate.throttle(until: d.until, reason: d.reason, cause: d.cause)
                logger.warning("rate limited; all workers defer", metadata: [
                    "playlist_id": "\(playlistID ?? "-")", "http_status": "429",
                    "retry_after_s": "\(RetryAfter.wholeSeconds(d.until.timeIntervalSince(now)))",
                    "error_code": "\(d.cause.rawValue)"])
                throw SpotifyError.deferred(until: d.until, reason: d.reason, cause: d.cause)
            case let s where RetryPolicy.isRetryable(status: s):
                failedAttempts += 1
                let failure = RequestFailure.status(s, message: redact(APIErrorBody.parse(response.body, status: s).message))
                logger.warning("Spotify transient failure", metadata: [
                    "playlist_id": "\(playlistID ?? "-")", "http_status": "\(s)", "attempt": "\(failedAttempts)"])
                // A server-requested wait longer than a short sleep becomes a deferral.
                warnIfCapped(response, playlistID: playlistID, now: clock.now())
                if let ra = RetryAfter.seconds(response.header("retry-after"), now: clock.now()), ra > retry.maxDelay {
                    let until = clock.now().addingTimeInterval(ra)
                    let reason = "Spotify unavailable (HTTP \(s), Retry-After \(RetryAfter.wholeSeconds(ra)) s)"
                    gate.throttle(until: until, reason: reason, cause: .serviceUnavailable)
                    throw SpotifyError.deferred(until: until, reason: reason, cause: .serviceUnavailable)
                }
                try backoff(failedAttempts, last: failure, path: path)
            default:
                return response
            }
        }
    }

    /// Logs the warning for a Retry-After above `RetryAfter.maximum` (which is then waited instead).
    private func warnIfCapped(_ response: HTTPResponse, playlistID: String?, now: Date) {
        guard let warning = RetryAfter.capWarning(response.header("retry-after"), now: now) else { return }
        logger.warning("\(warning) (HTTP \(response.status))", metadata: [
            "playlist_id": "\(playlistID ?? "-")", "http_status": "\(response.status)", "error_code": "retry_after_capped"])
    }

    private func backoff(_ failedAttempts: Int, last: RequestFailure, path: String) throws {
        guard failedAttempts < retry.maxAttempts else {
            logger.error("Spotify request failed after retries", metadata: ["error_code": "retries_exhausted", "path": "\(path)"])
            throw SpotifyError.retriesExhausted(request: "GET \(path)", attempts: failedAttempts, last: last)
        }
        sleeper.sleep(seconds: retry.delay(afterAttempt: failedAttempts))
    }

    // MARK: - URLs

    private func commonQuery() -> String {
        var q = ""
        if let market = settings.market, !market.isEmpty { q += "&market=" + URLEncoding.encode(market) }
        if !settings.additionalTypes.isEmpty {
            q += "&additional_types=" + settings.additionalTypes.map { URLEncoding.encode($0) }.joined(separator: ",")
        }
        return q
    }

    /// `/playlists/{id}` with `fields` (nil: the whole object) and the market and item types.
    private func playlistURL(_ id: String, fields: String?) -> String {
        let query = (fields.map { "&fields=" + URLEncoding.encode($0) } ?? "") + commonQuery()
        return settings.apiURL + "/playlists/" + URLEncoding.encode(id) + (query.isEmpty ? "" : "?" + query.dropFirst())
    }

    private func itemsURL(_ id: String, offset: Int, legacy: Bool) -> String {
        settings.apiURL + "/playlists/" + URLEncoding.encode(id) + (legacy ? "/tracks" : "/items")
            + "?limit=\(SpotifyClient.pageLimit)&offset=\(max(offset, 0))" + commonQuery()
            + (itemFields(legacy: legacy).map { "&fields=" + URLEncoding.encode($0) } ?? "")
    }

    /// The path and query below api_url, for logs (redacted; query values are not secret).
    private func pathForLog(_ url: String) -> String {
        let rest = url.hasPrefix(settings.apiURL) ? String(url.dropFirst(settings.apiURL.count)) : url
        return redact(rest)
    }

    static func playlistID(inURL url: String) -> String? {
        guard let r = url.firstRange(of: "/playlists/") else { return nil }
        let tail = url[r.upperBound...]
        let id = tail.prefix { $0 != "/" && $0 != "?" }
        return id.isEmpty ? nil : URLEncoding.percentDecoded(String(id)) ?? String(id)
    }

    private func redact(_ text: String) -> String { Redaction.redact(text, secrets: tokens.secrets) }
}

/// The debug log of every request to the Web API and the token endpoint: the transport
/// wrapped in `RequestLoggingTransport` when the logger is at debug, as is otherwise.
enum RequestLog {
    static func wrap(_ transport: HTTPTransport, service: String, logger: Logger) -> HTTPTransport {
        guard logger.logLevel <= .debug else { return transport }
        return RequestLoggingTransport(transport, service: service) { entry in
            var metadata: Logger.Metadata = [:]
            for (k, v) in entry.fields { metadata[k] = .string(v) }
            if let id = SpotifyClient.playlistID(inURL: entry.path) { metadata["playlist_id"] = .string(id) }
            logger.debug("\(entry.message)", metadata: metadata)
        }
    }
}
