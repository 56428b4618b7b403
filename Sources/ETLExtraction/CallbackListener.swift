#if canImport(Glibc)
import ETLCore
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials
import ETLHTTP
import Synchronization

/// A minimal blocking HTTP/1.1 listener on 127.0.0.1 for the OAuth redirect. It accepts
/// connections until one asks for the callback path, answers each with a small page and
/// closes it. WHY hand-rolled: the login is a one-shot CLI step and the daemon has no HTTP
/// server; POSIX sockets keep it dependency-free. Only loopback is bound, so the code in the
/// query string never crosses a network.
public final class CallbackListener: Sendable {
    /// The port actually bound (useful when 0 asked for an ephemeral one).
    public let port: UInt16
    public let path: String
    /// The listening socket; -1 once closed.
    private let socketFD: Guarded<Int32>

    public init(port: UInt16, path: String = "/callback") throws {
        self.path = path
        #if canImport(Glibc)
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let s = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard s >= 0 else { throw LoginError.listenFailed(port: port, reason: String(cString: strerror(errno))) }
        var yes: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(port).bigEndian
        addr.sin_addr = in_addr(s_addr: in_addr_t(0x7F00_0001).bigEndian)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(s, 8) == 0 else {
            let reason = String(cString: strerror(errno))
            closeFD(s)
            throw LoginError.listenFailed(port: port, reason: reason)
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
        }
        self.port = UInt16(bigEndian: actual.sin_port)
        self.socketFD = Guarded(s)
    }

    deinit { close() }

    public func close() {
        let fd = socketFD.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 { closeFD(fd) }
    }

    /// What to do with one request for the callback path, chosen from its query parameters.
    public enum Answer: Sendable, Equatable {
        /// Send this page and return the parameters: this is the redirect being waited for.
        case finish(status: Int, html: String)
        /// Send this page and keep waiting: the request is not the awaited redirect (a forged
        /// or stale `state`), so it must neither end nor steer the wait.
        case ignore(status: Int, html: String)
    }

    /// Waits until `answer` says `.finish` for a request to `path`, and returns that request's
    /// decoded query parameters. Other paths (a browser's /favicon.ico) get a 404, requests
    /// `answer` ignores get its page; waiting continues after both until `timeout` seconds
    /// have passed since the call, then `LoginError.timedOut` (with how many were ignored).
    public func waitForCallback(timeout: Double, answer: ([String: String]) -> Answer) throws -> [String: String] {
        let deadline = Date().addingTimeInterval(timeout)
        var ignored = 0
        while true {
            let remaining = deadline.timeIntervalSinceNow
            let fd = socketFD.withLock { $0 }
            guard remaining > 0, fd >= 0 else { throw LoginError.timedOut(seconds: Int(timeout), ignored: ignored) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(remaining, 1) * 1000))
            if ready < 0 && errno != EINTR { throw LoginError.listenFailed(port: port, reason: String(cString: strerror(errno))) }
            if ready <= 0 { continue }
            let conn = accept(fd, nil, nil)
            if conn < 0 { continue }
            defer { closeFD(conn) }
            // A client that connects and says nothing must not wedge the login.
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            guard let target = CallbackListener.readRequestTarget(conn) else {
                CallbackListener.reply(conn, status: 400, html: page("Bad request", "Could not read the request."))
                continue
            }
            let (reqPath, query) = CallbackListener.split(target)
            guard reqPath == path else {
                CallbackListener.reply(conn, status: 404, html: page("Not found", "This listener only serves \(path)."))
                continue
            }
            let params = CallbackListener.parseQuery(query)
            switch answer(params) {
            case .finish(let status, let html):
                CallbackListener.reply(conn, status: status, html: html)
                return params
            case .ignore(let status, let html):
                CallbackListener.reply(conn, status: status, html: html)
                ignored += 1
            }
        }
    }

    /// Reads up to the end of the header block (max 16 KiB) and returns the request target
    /// of a GET request line.
    static func readRequestTarget(_ conn: Int32) -> String? {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while buffer.count < 16384 {
            let n = recv(conn, &chunk, chunk.count, 0)
            if n <= 0 { break }
            buffer.append(contentsOf: chunk[0..<n])
            if buffer.count >= 4, String(decoding: buffer, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        let text = String(decoding: buffer, as: UTF8.self)
        guard let line = text.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false).first else { return nil }
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[0] == "GET", parts[2].hasPrefix("HTTP/1.") else { return nil }
        return String(parts[1])
    }

    static func split(_ target: String) -> (String, String) {
        guard let q = target.firstIndex(of: "?") else { return (target, "") }
        return (String(target[..<q]), String(target[target.index(after: q)...]))
    }

    /// `application/x-www-form-urlencoded` query decoding; the first value of a key wins.
    public static func parseQuery(_ query: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let plus = String(s.replacing("+", with: " "))
                return URLEncoding.percentDecoded(plus) ?? plus
            }
            let key = decode(kv[0])
            if out[key] == nil { out[key] = kv.count > 1 ? decode(kv[1]) : "" }
        }
        return out
    }

    static func reply(_ conn: Int32, status: Int, html: String) {
        let body = Array(html.utf8)
        let reason = [200: "OK", 400: "Bad Request", 404: "Not Found"][status] ?? "Error"
        let head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/html; charset=utf-8\r\n"
            + "Content-Length: \(body.count)\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        let bytes = Array(head.utf8) + body
        var sent = 0
        while sent < bytes.count {
            #if canImport(Glibc)
            let n = bytes[sent...].withUnsafeBytes { send(conn, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            #else
            let n = bytes[sent...].withUnsafeBytes { send(conn, $0.baseAddress, $0.count, 0) }
            #endif
            if n <= 0 { return }
            sent += n
        }
    }
}

private func closeFD(_ fd: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}

/// A tiny HTML page; `text` is escaped because an `error` parameter comes from the query.
func page(_ title: String, _ text: String) -> String {
    func esc(_ s: String) -> String {
        s.replacing("&", with: "&amp;").replacing("<", with: "&lt;")
            .replacing(">", with: "&gt;").replacing("\"", with: "&quot;")
    }
    return "<!doctype html><html><head><meta charset=\"utf-8\"><title>spotifyd-etl: \(esc(title))</title></head>"
        + "<body><h1>\(esc(title))</h1><p>\(esc(text))</p></body></html>\n"
}
