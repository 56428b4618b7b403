import CCurl
import ETLCore
import Foundation

/// A request as our clients build it. Headers are sent exactly as given (order kept), which
/// the SigV4 signer relies on; curl's own defaults that would change the signed request
/// (`Expect`, a default `Content-Type`) are suppressed.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: Data?
    /// Whole-request timeout in seconds. A wedged peer never holds a worker longer than this.
    public var timeout: Double

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: Data? = nil, timeout: Double = 30) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lower-cased; the last header block only (after any 100 Continue).
    public var headers: [(String, String)]
    public var body: Data

    public init(status: Int, headers: [(String, String)], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.last { $0.0 == n }?.1
    }
}

/// A transport failure: no HTTP status was received. Always retryable by the caller's policy.
public struct HTTPTransportError: Error, CustomStringConvertible, Sendable {
    public let code: Int
    public let message: String
    public let isTimeout: Bool
    public var description: String { "transport error \(code): \(message)" }
}

/// The seam between clients and the network: production uses `CurlHTTPClient`, and tests
/// use it too, against real loopback peers.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) throws -> HTTPResponse
}

/// Blocking libcurl client. Calls run on the caller's thread (workers, never the scheduler's
/// queue); easy handles are pooled so keep-alive connections are reused.
public final class CurlHTTPClient: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var pool: [OpaquePointer] = []
    private let userAgent: String
    private let maxPooled = 8

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(userAgent: String = "spotifyd-etl/\(ETLVersion.string)") {
        _ = CurlHTTPClient.globalInit
        self.userAgent = userAgent
    }

    deinit {
        for h in pool { curl_easy_cleanup(UnsafeMutableRawPointer(h)) }
    }

    private func checkout() -> UnsafeMutableRawPointer {
        lock.lock()
        let h = pool.popLast()
        lock.unlock()
        if let h { let raw = UnsafeMutableRawPointer(h); curl_easy_reset(raw); return raw }
        return curl_easy_init()!
    }

    private func checkin(_ h: UnsafeMutableRawPointer) {
        lock.lock()
        if pool.count < maxPooled { pool.append(OpaquePointer(h)); lock.unlock() } else { lock.unlock(); curl_easy_cleanup(h) }
    }

    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        let h = checkout()
        defer { checkin(h) }
        let ctx = TransferContext(body: request.body ?? Data())
        let unmanaged = Unmanaged.passRetained(ctx)
        defer { unmanaged.release() }

        ccurl_setopt_str(h, CURLOPT_URL, request.url)
        ccurl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        ccurl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000))
        ccurl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Int(min(request.timeout, 10) * 1000))
        ccurl_setopt_str(h, CURLOPT_USERAGENT, userAgent)
        ccurl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
        // identity or gzip, decoded by curl — unless the caller sets Accept-Encoding itself
        // (S3 GET of a gzip object must return the stored bytes, not inflate them).
        if !request.headers.contains(where: { $0.0.lowercased() == "accept-encoding" }) {
            ccurl_setopt_str(h, CURLOPT_ACCEPT_ENCODING, "")
        }
        ccurl_setopt_cb(h, CURLOPT_WRITEFUNCTION, curlWrite)
        ccurl_setopt_ptr(h, CURLOPT_WRITEDATA, unmanaged.toOpaque())
        ccurl_setopt_cb(h, CURLOPT_HEADERFUNCTION, curlHeader)
        ccurl_setopt_ptr(h, CURLOPT_HEADERDATA, unmanaged.toOpaque())

        switch request.method {
        case "GET": ccurl_setopt_long(h, CURLOPT_HTTPGET, 1)
        case "HEAD": ccurl_setopt_long(h, CURLOPT_NOBODY, 1)
        default:
            ccurl_setopt_str(h, CURLOPT_CUSTOMREQUEST, request.method)
            if request.method != "DELETE" || request.body != nil {
                ccurl_setopt_long(h, CURLOPT_UPLOAD, 1)
                ccurl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(ctx.body.count))
                ccurl_setopt_cb(h, CURLOPT_READFUNCTION, curlRead)
                ccurl_setopt_ptr(h, CURLOPT_READDATA, unmanaged.toOpaque())
            }
        }

        var list: UnsafeMutablePointer<curl_slist>? = nil
        var names = Set<String>()
        for (k, v) in request.headers {
            names.insert(k.lowercased())
            list = curl_slist_append(list, v.isEmpty ? "\(k);" : "\(k): \(v)")
        }
        // curl adds these on its own; they would be unsigned noise or change semantics.
        if !names.contains("expect") { list = curl_slist_append(list, "Expect:") }
        if !names.contains("content-type") && request.body != nil { list = curl_slist_append(list, "Content-Type:") }
        if !names.contains("transfer-encoding") { list = curl_slist_append(list, "Transfer-Encoding:") }
        ccurl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
        defer { curl_slist_free_all(list) }

        let rc = curl_easy_perform(h)
        guard rc == CURLE_OK else {
            let msg = String(cString: curl_easy_strerror(rc))
            throw HTTPTransportError(code: Int(rc.rawValue), message: msg, isTimeout: rc == CURLE_OPERATION_TIMEDOUT)
        }
        var status = 0
        ccurl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: ctx.headers, body: ctx.received)
    }
}

private final class TransferContext {
    let body: Data
    var sent = 0
    var received = Data()
    var headers: [(String, String)] = []
    init(body: Data) { self.body = body }
}

private func curlWrite(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let ud else { return 0 }
    let ctx = Unmanaged<TransferContext>.fromOpaque(ud).takeUnretainedValue()
    ctx.received.append(UnsafeRawPointer(ptr).assumingMemoryBound(to: UInt8.self), count: size * n)
    return size * n
}

private func curlRead(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let ud else { return 0 }
    let ctx = Unmanaged<TransferContext>.fromOpaque(ud).takeUnretainedValue()
    let count = min(size * n, ctx.body.count - ctx.sent)
    if count <= 0 { return 0 }
    ctx.body.withUnsafeBytes { raw in
        let base = raw.baseAddress!.advanced(by: ctx.sent)
        UnsafeMutableRawPointer(ptr).copyMemory(from: base, byteCount: count)
    }
    ctx.sent += count
    return count
}

private func curlHeader(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let ud else { return 0 }
    let ctx = Unmanaged<TransferContext>.fromOpaque(ud).takeUnretainedValue()
    let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: size * n), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
    if line.hasPrefix("HTTP/") {
        ctx.headers = []  // a new header block (after 100 Continue or a proxy) replaces the old
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        ctx.headers.append((name, value))
    }
    return size * n
}

/// Percent-encoding per RFC 3986 unreserved set, used for query strings by every client.
public enum URLEncoding {
    private static let unreserved: Set<UInt8> = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8))

    public static func encode(_ s: String, keepSlash: Bool = false) -> String {
        var out = ""
        for b in s.utf8 {
            if unreserved.contains(b) || (keepSlash && b == UInt8(ascii: "/")) {
                out.unicodeScalars.append(UnicodeScalar(b))
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    public static func form(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }
}
