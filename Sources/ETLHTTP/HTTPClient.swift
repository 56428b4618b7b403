import CCurl
import ETLCore
import FoundationEssentials
import Glibc
import Synchronization

/// A byte range of a file, sent as a request body. The transport reads it in 64 KiB chunks
/// while the bytes go out, so a large upload (an 8 MiB S3 part) is never held in memory;
/// the file is reopened for every send, so a retried request re-reads the same range.
public struct FileBody: Sendable, Equatable {
    public var path: String
    public var offset: Int
    public var length: Int

    public init(path: String, offset: Int = 0, length: Int) {
        self.path = path
        self.offset = offset
        self.length = length
    }
}

/// Aborts a transfer whose rate stays below `bytesPerSecond` for `seconds` in a row (curl's
/// CURLOPT_LOW_SPEED_LIMIT / CURLOPT_LOW_SPEED_TIME). Bounds a dead link without bounding the
/// whole transfer, so a large body on a slow but working link can finish.
public struct LowSpeedLimit: Sendable, Equatable {
    public var bytesPerSecond: Int
    public var seconds: Int

    public init(bytesPerSecond: Int, seconds: Int) {
        self.bytesPerSecond = bytesPerSecond
        self.seconds = seconds
    }
}

/// A request as our clients build it. Headers are sent exactly as given (order kept), which
/// the SigV4 signer relies on; curl's own defaults that would change the signed request
/// (`Expect`, a default `Content-Type`) are suppressed.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: Data?
    /// A streamed body read from a file range; when set it is sent instead of `body`.
    public var bodyFile: FileBody?
    /// Whole-request timeout in seconds. A wedged peer never holds a worker longer than this.
    /// 0 means no total timeout, and is allowed only together with `lowSpeed`, which then is
    /// what bounds a stalled transfer. The connect timeout is at most 10 s either way.
    public var timeout: Double
    /// Aborts the transfer when it stays below this rate; the failure is an
    /// `HTTPTransportError` with `isTimeout == true`.
    public var lowSpeed: LowSpeedLimit?
    /// Told whenever bytes of this request move, up or down, and counts the request as active
    /// while it runs.
    public var progress: TransferProgress?
    /// The most bytes of a 2xx (or other non-error) response body kept, counted after content
    /// decoding. One byte more aborts the transfer and `send` throws an `HTTPTransportError`
    /// of kind `.bodyTooLarge(limit:)`. Take the value from `BodyLimit`.
    public var maxBodyBytes: Int
    /// The most bytes of a 4xx/5xx response body kept (at most `maxBodyBytes`). An error body
    /// is read for a message only: past this the transfer stops and the response comes back
    /// with its status, the first bytes and `bodyTruncated`.
    public var maxErrorBodyBytes: Int

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: Data? = nil,
                bodyFile: FileBody? = nil, timeout: Double = 30, lowSpeed: LowSpeedLimit? = nil,
                progress: TransferProgress? = nil, maxBodyBytes: Int = BodyLimit.standard,
                maxErrorBodyBytes: Int = BodyLimit.error) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.bodyFile = bodyFile
        self.timeout = timeout
        self.lowSpeed = lowSpeed
        self.progress = progress
        self.maxBodyBytes = maxBodyBytes
        self.maxErrorBodyBytes = maxErrorBodyBytes
    }

    /// Whether the request carries a body at all (possibly empty).
    var hasBody: Bool { body != nil || bodyFile != nil }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lower-cased; the last header block only (after any 100 Continue).
    public var headers: [(String, String)]
    public var body: Data
    /// True when this is a 4xx/5xx whose body went on past `HTTPRequest.maxErrorBodyBytes`:
    /// `body` holds its first bytes only.
    public var bodyTruncated: Bool

    public init(status: Int, headers: [(String, String)], body: Data, bodyTruncated: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bodyTruncated = bodyTruncated
    }

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.last { $0.0 == n }?.1
    }
}

/// A transport failure: no usable response was received. `kind` is what callers switch on;
/// `code` is curl's, `message` is for people.
public struct HTTPTransportError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// No status: refused, reset, DNS, TLS, a peer that hung up. Retryable.
        case connection
        /// The whole-request timeout or the low-speed limit fired. Retryable.
        case timeout
        /// The response body went past `HTTPRequest.maxBodyBytes` (decoded bytes) and the
        /// transfer was aborted. The answer is unusable, like a malformed one: asking again
        /// at once would most likely fetch the same bytes.
        case bodyTooLarge(limit: Int)
        /// The request's own file body could not be read.
        case requestBody
    }
    public let kind: Kind
    public let code: Int
    public let message: String
    public var isTimeout: Bool { kind == .timeout }
    public var description: String { "transport error \(code): \(message)" }

    public init(kind: Kind, code: Int, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }
}

/// The seam between clients and the network: production uses `CurlHTTPClient`, and tests
/// use it too, against real loopback peers.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) throws -> HTTPResponse
}

/// Blocking libcurl client. Calls run on the caller's thread (workers, never the scheduler's
/// queue); easy handles are pooled so keep-alive connections are reused. A handle is used by
/// one call at a time: it leaves the pool for the whole of a `send` and is reset on checkout.
// @unchecked Sendable: the pooled curl easy handles are raw pointers, safe only because each is owned by exactly one send at a time, which the compiler cannot see.
public final class CurlHTTPClient: HTTPTransport, @unchecked Sendable {
    /// Addresses of idle easy handles (an address, unlike the pointer, may sit in a Guarded box).
    private let pool = Guarded<[UInt]>([])
    private let userAgent: String
    private let maxPooled = 8

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(userAgent: String = "spotifyd-etl/\(ETLVersion.string)") {
        _ = CurlHTTPClient.globalInit
        self.userAgent = userAgent
    }

    deinit {
        let idle = pool.withLock { handles in
            defer { handles = [] }
            return handles
        }
        for address in idle { curl_easy_cleanup(UnsafeMutableRawPointer(bitPattern: address)) }
    }

    private func checkout() -> UnsafeMutableRawPointer {
        if let address = pool.withLock({ $0.popLast() }), let h = UnsafeMutableRawPointer(bitPattern: address) {
            curl_easy_reset(h)
            return h
        }
        return curl_easy_init()!
    }

    private func checkin(_ h: UnsafeMutableRawPointer) {
        let address = UInt(bitPattern: h)
        let pooled = pool.withLock { handles in
            guard handles.count < maxPooled else { return false }
            handles.append(address)
            return true
        }
        if !pooled { curl_easy_cleanup(h) }
    }

    public func send(_ request: HTTPRequest) throws -> HTTPResponse {
        precondition(request.timeout > 0 || request.lowSpeed != nil,
                     "HTTPRequest.timeout 0 (no total timeout) needs a lowSpeed limit to bound a stalled peer")
        let limits = BodyLimits(body: max(0, request.maxBodyBytes),
                                errorBody: max(0, min(request.maxErrorBodyBytes, request.maxBodyBytes)))
        let h = checkout()
        defer { checkin(h) }
        let ctx: TransferContext
        if let file = request.bodyFile {
            guard file.offset >= 0, file.length >= 0 else {
                throw HTTPTransportError(kind: .requestBody, code: Int(CURLE_READ_ERROR.rawValue), message: "request body \(file.path): invalid range offset \(file.offset) length \(file.length)")
            }
            let fd = open(file.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw HTTPTransportError(kind: .requestBody, code: Int(CURLE_READ_ERROR.rawValue), message: "cannot open request body \(file.path): \(String(cString: strerror(errno)))")
            }
            ctx = TransferContext(source: .file(fd: fd, offset: file.offset, path: file.path), length: file.length,
                                  progress: request.progress, limits: limits)
        } else {
            let body = request.body ?? Data()
            ctx = TransferContext(source: .data(body), length: body.count, progress: request.progress, limits: limits)
        }
        defer { ctx.close() }
        let unmanaged = Unmanaged.passRetained(ctx)
        defer { unmanaged.release() }

        ccurl_setopt_str(h, CURLOPT_URL, request.url)
        ccurl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        // CURLOPT_TIMEOUT_MS 0 is curl's "no total timeout".
        ccurl_setopt_long(h, CURLOPT_TIMEOUT_MS, request.timeout > 0 ? Int(request.timeout * 1000) : 0)
        ccurl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Int((request.timeout > 0 ? min(request.timeout, 10) : 10) * 1000))
        if let low = request.lowSpeed {
            ccurl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, low.bytesPerSecond)
            ccurl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, low.seconds)
        }
        if request.progress != nil {
            ccurl_setopt_long(h, CURLOPT_NOPROGRESS, 0)
            ccurl_setopt_xferinfo(h, CURLOPT_XFERINFOFUNCTION, curlTransferInfo)
            ccurl_setopt_ptr(h, CURLOPT_XFERINFODATA, unmanaged.toOpaque())
        }
        ccurl_setopt_str(h, CURLOPT_USERAGENT, userAgent)
        ccurl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
        // identity or gzip, decoded by curl — unless the caller sets Accept-Encoding itself
        // (S3 GET of a gzip object must return the stored bytes, not inflate them).
        if !request.headers.contains(where: { $0.0.lowercased() == "accept-encoding" }) {
            ccurl_setopt_str(h, CURLOPT_ACCEPT_ENCODING, "")
        }
        // An early stop on a stated Content-Length (the write callback enforces the limit on
        // decoded bytes either way). Not for HEAD, whose Content-Length describes no body here.
        if request.method != "HEAD" {
            ccurl_setopt_off(h, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limits.body))
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
            if request.method != "DELETE" || request.hasBody {
                ccurl_setopt_long(h, CURLOPT_UPLOAD, 1)
                ccurl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(ctx.length))
                ccurl_setopt_cb(h, CURLOPT_READFUNCTION, curlRead)
                ccurl_setopt_ptr(h, CURLOPT_READDATA, unmanaged.toOpaque())
                // Lets curl rewind the body when it resends on a fresh connection (a
                // keep-alive connection the peer closed) instead of failing the request.
                ccurl_setopt_seek(h, CURLOPT_SEEKFUNCTION, curlSeek)
                ccurl_setopt_ptr(h, CURLOPT_SEEKDATA, unmanaged.toOpaque())
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
        if !names.contains("content-type") && request.hasBody { list = curl_slist_append(list, "Content-Type:") }
        if !names.contains("transfer-encoding") { list = curl_slist_append(list, "Transfer-Encoding:") }
        ccurl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
        defer { curl_slist_free_all(list) }

        let rc = request.progress.map { p in p.tracking { curl_easy_perform(h) } } ?? curl_easy_perform(h)
        if let failure = ctx.bodyFailure {
            throw HTTPTransportError(kind: .requestBody, code: Int(CURLE_READ_ERROR.rawValue), message: failure)
        }
        if ctx.bodyOverflowed || rc == CURLE_FILESIZE_EXCEEDED {
            throw HTTPTransportError(kind: .bodyTooLarge(limit: limits.body), code: Int(CURLE_FILESIZE_EXCEEDED.rawValue),
                                     message: "response body exceeded \(BodyLimit.describe(limits.body)) limit")
        }
        guard rc == CURLE_OK || ctx.errorBodyTruncated else {
            let msg = String(cString: curl_easy_strerror(rc))
            throw HTTPTransportError(kind: rc == CURLE_OPERATION_TIMEDOUT ? .timeout : .connection, code: Int(rc.rawValue),
                                     message: msg)
        }
        var status = 0
        ccurl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: ctx.headers, body: ctx.received, bodyTruncated: ctx.errorBodyTruncated)
    }
}

/// Chunk size for streamed file bodies: curl's default upload buffer, so each read callback
/// is one pread(2) straight into curl's buffer and no copy of the body exists in our memory.
let fileBodyChunk = 64 << 10

/// How many decoded response bytes one transfer keeps: `body` for a 2xx (or any non-error)
/// answer, `errorBody` (≤ `body`) once the status line says 4xx/5xx.
struct BodyLimits {
    var body: Int
    var errorBody: Int
}

/// Per-transfer state shared with curl's callbacks, all of which run on the thread inside
/// curl_easy_perform, so it needs no lock.
private final class TransferContext {
    enum Source {
        case data(Data)
        case file(fd: Int32, offset: Int, path: String)
    }
    let source: Source
    let length: Int
    var sent = 0
    var received = Data()
    var headers: [(String, String)] = []
    /// Why reading a file body failed (the read callback aborted the transfer).
    var bodyFailure: String?
    let progress: TransferProgress?
    /// Bytes up + down at the previous transfer-info callback.
    var reportedBytes: Int64 = 0
    let limits: BodyLimits
    /// The status of the latest status line (the final one once the body flows).
    var status = 0
    /// A non-error body went past `limits.body`: the transfer was aborted.
    var bodyOverflowed = false
    /// An error body went past `limits.errorBody`: its first bytes were kept, the rest not read.
    var errorBodyTruncated = false

    init(source: Source, length: Int, progress: TransferProgress?, limits: BodyLimits) {
        self.source = source
        self.length = length
        self.progress = progress
        self.limits = limits
    }

    /// Keeps `count` decoded body bytes at `ptr`, or stops the transfer (false) when they
    /// would go past the limit for the status at hand.
    func receive(_ ptr: UnsafePointer<UInt8>, count: Int) -> Bool {
        let isError = status >= 400
        let limit = isError ? limits.errorBody : limits.body
        let room = limit - received.count
        guard count > room else {
            received.append(ptr, count: count)
            return true
        }
        if isError {
            if room > 0 { received.append(ptr, count: room) }
            errorBodyTruncated = true
        } else {
            bodyOverflowed = true
        }
        return false
    }

    func close() {
        if case .file(let fd, _, _) = source { _ = Glibc.close(fd) }
    }

    /// Fills up to `capacity` bytes at `dst` with the next body bytes; nil on a read failure.
    func read(into dst: UnsafeMutableRawPointer, capacity: Int) -> Int? {
        let count = min(capacity, length - sent)
        if count <= 0 { return 0 }
        switch source {
        case .data(let body):
            body.withUnsafeBytes { raw in dst.copyMemory(from: raw.baseAddress!.advanced(by: sent), byteCount: count) }
            sent += count
            return count
        case .file(let fd, let offset, let path):
            let want = min(count, fileBodyChunk)
            while true {
                let r = pread(fd, dst, want, off_t(offset + sent))
                if r > 0 { sent += r; return r }
                if r < 0 && errno == EINTR { continue }
                bodyFailure = r < 0
                    ? "reading request body \(path): \(String(cString: strerror(errno)))"
                    : "request body \(path) ended at byte \(offset + sent), expected \(length) bytes from offset \(offset)"
                return nil
            }
        }
    }
}

private func curlWrite(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let ud else { return 0 }
    let ctx = Unmanaged<TransferContext>.fromOpaque(ud).takeUnretainedValue()
    // Any count other than size * n makes curl abort the transfer (CURLE_WRITE_ERROR).
    return ctx.receive(UnsafeRawPointer(ptr).assumingMemoryBound(to: UInt8.self), count: size * n) ? size * n : 0
}

private func curlRead(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let ud else { return 0 }
    let ctx = Unmanaged<TransferContext>.fromOpaque(ud).takeUnretainedValue()
    return ctx.read(into: UnsafeMutableRawPointer(ptr), capacity: size * n) ?? Int(CURL_READFUNC_ABORT)
}

private func curlSeek(_ ud: UnsafeMutableRawPointer?, _ offset: curl_off_t, _ origin: Int32) -> Int32 {
    guard let ud else { return Int32(CURL_SEEKFUNC_FAIL) }
    let ctx = Unmanaged<TransferContext>.fromOpaque(ud).takeUnretainedValue()
    guard origin == SEEK_SET, offset >= 0, offset <= ctx.length else { return Int32(CURL_SEEKFUNC_CANTSEEK) }
    ctx.sent = Int(offset)
    return Int32(CURL_SEEKFUNC_OK)
}

/// Progress only: never aborts the transfer (always 0). curl also calls this while nothing
/// moves, so only growth since the previous call is reported as movement; the counters can
/// restart from 0 when curl resends on a fresh connection, and that resend is movement too.
private func curlTransferInfo(_ ud: UnsafeMutableRawPointer?, _ dltotal: curl_off_t, _ dlnow: curl_off_t,
                              _ ultotal: curl_off_t, _ ulnow: curl_off_t) -> Int32 {
    guard let ud else { return 0 }
    let ctx = Unmanaged<TransferContext>.fromOpaque(ud).takeUnretainedValue()
    let now = Int64(dlnow) + Int64(ulnow)
    if now > ctx.reportedBytes { ctx.progress?.moved(bytes: Int(now - ctx.reportedBytes)) }
    ctx.reportedBytes = now
    return 0
}

private func curlHeader(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ n: Int, _ ud: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let ud else { return 0 }
    let ctx = Unmanaged<TransferContext>.fromOpaque(ud).takeUnretainedValue()
    let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: size * n), as: UTF8.self)
        .trimmingWhitespaceAndNewlines()
    if line.hasPrefix("HTTP/") {
        ctx.headers = []  // a new header block (after 100 Continue or a proxy) replaces the old
        let fields = line.split(separator: " ", maxSplits: 2)
        ctx.status = fields.count >= 2 ? Int(fields[1]) ?? 0 : 0
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].trimmingWhitespace().lowercased()
        let value = line[line.index(after: colon)...].trimmingWhitespace()
        ctx.headers.append((name, value))
    }
    return size * n
}

/// Percent-encoding per RFC 3986 unreserved set, used for query strings by every client.
public enum URLEncoding {
    /// RFC 3986 unreserved characters: `A-Z a-z 0-9 - _ . ~`.
    @inline(__always)
    private static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static let upperHex = Array("0123456789ABCDEF".utf8)

    public static func encode(_ s: String, keepSlash: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            if isUnreserved(b) || (keepSlash && b == UInt8(ascii: "/")) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(upperHex[Int(b >> 4)])
                out.append(upperHex[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes (no `+` handling: that is form encoding's business). Nil when an
    /// escape is malformed or the result is not UTF-8, as Foundation's `removingPercentEncoding`.
    public static func percentDecoded(_ s: String) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        func hex(_ c: UInt8?) -> UInt8? {
            switch c {
            case .some(let c) where c >= 0x30 && c <= 0x39: return c - 0x30
            case .some(let c) where c >= 0x41 && c <= 0x46: return c - 0x41 + 10
            case .some(let c) where c >= 0x61 && c <= 0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        while let c = it.next() {
            if c == UInt8(ascii: "%") {
                guard let hi = hex(it.next()), let lo = hex(it.next()) else { return nil }
                out.append(hi << 4 | lo)
            } else {
                out.append(c)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    public static func form(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }
}
