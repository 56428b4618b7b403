import ETLCore
import FoundationEssentials

/// One HTTP request as the debug log shows it: method, the path with its query made safe,
/// the status (or the transport failure), bytes each way and the time it took. Never the
/// headers (Authorization, SigV4 signatures, cookies) and never a body (the token endpoint's
/// form carries the client secret, the refresh token and authorization codes).
public struct HTTPRequestLogEntry: Sendable, Equatable {
    /// Which peer: `spotify`, `token`, `s3`.
    public var service: String
    public var method: String
    /// Path and query below the host, sensitive query values replaced (see `safePath`).
    public var path: String
    /// Nil when no response arrived.
    public var status: Int?
    /// The transport failure, when no response arrived.
    public var failure: String?
    public var bytesSent: Int
    public var bytesReceived: Int
    public var milliseconds: Int

    public init(service: String, method: String, path: String, status: Int?, failure: String? = nil,
                bytesSent: Int, bytesReceived: Int, milliseconds: Int) {
        self.service = service
        self.method = method
        self.path = path
        self.status = status
        self.failure = failure
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.milliseconds = milliseconds
    }

    /// `spotify GET /v1/playlists/37i9dQZF1DXcBWIGoYBM5M?fields=…: HTTP 200, 0 B sent, 1.2 KB received, 87 ms`,
    /// or `…: no response (transport error 28: Timeout was reached), …` when none came.
    public var message: String {
        let outcome = status.map { "HTTP \($0)" } ?? "no response (\(failure ?? "transport error"))"
        return "\(service) \(method) \(LogText.escaped(path)): \(outcome), \(LogText.bytes(bytesSent)) sent, "
            + "\(LogText.bytes(bytesReceived)) received, \(LogText.count(milliseconds)) ms"
    }

    /// The same facts as journal fields (HTTP_METHOD, HTTP_STATUS, BYTES_SENT, …); the path
    /// is in the message only.
    public var fields: [String: String] {
        var f = ["http_service": service, "http_method": method,
                 "bytes_sent": "\(bytesSent)", "bytes_received": "\(bytesReceived)", "duration_ms": "\(milliseconds)"]
        if let status { f["http_status"] = "\(status)" }
        if let failure { f["error"] = failure }
        return f
    }

    /// Query keys whose values never reach a log, compared case-insensitively. Any key
    /// containing `token`, `secret`, `signature`, `password` or `credential` is covered too.
    public static let sensitiveQueryKeys: Set<String> = [
        "code", "code_verifier", "state", "client_secret", "access_token", "refresh_token", "id_token",
        "x-amz-signature", "x-amz-security-token", "x-amz-credential", "signature", "sig", "key", "apikey", "api_key",
    ]

    static func isSensitive(_ key: String) -> Bool {
        let k = (URLEncoding.percentDecoded(key) ?? key).lowercased()
        if sensitiveQueryKeys.contains(k) { return true }
        return ["token", "secret", "signature", "password", "credential"].contains { k.contains($0) }
    }

    /// Query values longer than this are shown as `…` (Spotify's `fields` filter is ~600
    /// characters of percent-encoding, the same on every request).
    public static let maxQueryValueLength = 64

    /// The part of `url` after the host, with the value of every sensitive query key replaced
    /// by `[REDACTED]`, values longer than `maxQueryValueLength` shortened to `…` (other keys —
    /// limit, offset, market, uploadId, partNumber — are kept as sent) and any fragment
    /// dropped. Userinfo before the host is dropped with the host. The path is shown
    /// percent-decoded (`dt=2026-12-02`, not `dt%3D2026-12-02`), the query as sent.
    public static func safePath(_ url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.firstRange(of: "://") {
            rest = rest[scheme.upperBound...]
            let hostEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
            rest = rest[hostEnd...]
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        func readable(_ p: Substring) -> String {
            p.isEmpty ? "/" : URLEncoding.percentDecoded(String(p)) ?? String(p)
        }
        guard let q = rest.firstIndex(of: "?") else { return readable(rest) }
        let path = readable(rest[..<q])
        let pairs = rest[rest.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map { pair in
            guard let eq = pair.firstIndex(of: "=") else { return String(pair) }
            let key = String(pair[..<eq])
            if isSensitive(key) { return key + "=[REDACTED]" }
            return pair.distance(from: eq, to: pair.endIndex) - 1 > maxQueryValueLength ? key + "=…" : String(pair)
        }
        return path + "?" + pairs.joined(separator: "&")
    }
}

/// Wraps a transport so every request it sends is described to `log` once it ends (with a
/// response or a transport error). Put in front of a client's transport only when its
/// logger is at debug, so it costs nothing otherwise.
public struct RequestLoggingTransport: HTTPTransport {
    public let inner: HTTPTransport
    public let service: String
    private let log: @Sendable (HTTPRequestLogEntry) -> Void

    public init(_ inner: HTTPTransport, service: String, log: @escaping @Sendable (HTTPRequestLogEntry) -> Void) {
        self.inner = inner
        self.service = service
        self.log = log
    }

    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        let started = ContinuousClock.now
        let sent = request.bodyFile?.length ?? request.body?.count ?? 0
        func entry(status: Int?, failure: String?, received: Int) -> HTTPRequestLogEntry {
            let elapsed = ContinuousClock.now - started
            let ms = Int(elapsed.components.seconds) * 1000 + Int(elapsed.components.attoseconds / 1_000_000_000_000_000)
            return HTTPRequestLogEntry(service: service, method: request.method,
                                       path: HTTPRequestLogEntry.safePath(request.url), status: status,
                                       failure: failure, bytesSent: sent, bytesReceived: received, milliseconds: ms)
        }
        do {
            let response = try inner.send(request)
            log(entry(status: response.status, failure: nil, received: response.body.count))
            return response
        } catch {
            log(entry(status: nil, failure: Redaction.redact("\(error)"), received: 0))
            throw error
        }
    }
}
