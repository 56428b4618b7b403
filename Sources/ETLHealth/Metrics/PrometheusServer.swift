import ETLCore
import Dispatch
import Glibc
import Logging

/// The `/metrics` endpoint: plain HTTP/1.1, one request per connection (`Connection: close`).
///
/// `GET /metrics` (and `HEAD`) answers 200 with the Prometheus text format; any other path 404;
/// any other method 405. Accepts through a `BoundedAcceptLoop`, like the control socket: at
/// most `maxConnections` at once (beyond that a connection is closed right at accept), a
/// whole-request `deadline` (not per read, so a client trickling a byte at a time is cut too),
/// and a pause instead of a spin when accept runs out of descriptors.
public final class PrometheusServer: Sendable {
    public let host: String
    public let maxConnections: Int
    public let deadline: Double
    private let requestedPort: Int
    private let logger: Logger
    private let boundPort = Guarded(0)
    private let loop: BoundedAcceptLoop

    static let maxRequestHead = 8 * 1024
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// `host`: an IPv4 or IPv6 literal (brackets optional) or `localhost` (127.0.0.1);
    /// `port` 0 picks a free port (see `port`). `render` produces the body of each scrape.
    public init(host: String, port: Int, maxConnections: Int = 16, deadline: Double = 5,
                logger: Logger = Logger(label: "spotifyd-etl.metrics"), render: @escaping @Sendable () -> [UInt8]) {
        self.host = host
        self.requestedPort = port
        self.maxConnections = maxConnections
        self.deadline = deadline
        self.logger = logger
        loop = BoundedAcceptLoop(name: "metrics endpoint", queueLabel: "spotifyd-etl.prometheus",
                                 maxConnections: maxConnections, deadline: deadline, logger: logger) { c in
            Self.serve(c, render: render)
        }
    }

    deinit { stop() }

    public enum ServerError: Error, CustomStringConvertible, Equatable {
        case badAddress(String)
        case system(String, Int32)

        public var description: String {
            switch self {
            case .badAddress(let a): return "metrics listen address \(a) is not an IP address or localhost"
            case .system(let what, let e): return "\(what): \(String(cString: strerror(e)))"
            }
        }
    }

    /// The bound port (useful after binding port 0); 0 before `start`.
    public var port: Int { boundPort.withLock { $0 } }

    /// How often accepting paused for lack of descriptors (for tests).
    var backoffCount: Int { loop.stats.backoffs }

    /// The accept loop's counters (for tests).
    var acceptStats: BoundedAcceptLoop.Stats { loop.stats }

    /// `127.0.0.1:9464`, `[::1]:9464`: where it listens (the bound port).
    public var address: String {
        let h = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(h):\(port)"
    }

    /// Binds and listens (so a port in use fails here, before READY), then starts accepting.
    public func start() throws {
        var bare = host
        if bare.hasPrefix("["), bare.hasSuffix("]") { bare = String(bare.dropFirst().dropLast()) }
        if bare == "localhost" { bare = "127.0.0.1" }
        let where_ = "\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host):\(requestedPort)"

        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        let family: Int32
        if inet_pton(AF_INET, bare, &v4.sin_addr) == 1 {
            family = AF_INET
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(requestedPort).bigEndian)
        } else if inet_pton(AF_INET6, bare, &v6.sin6_addr) == 1 {
            family = AF_INET6
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(requestedPort).bigEndian)
        } else {
            throw ServerError.badAddress(host)
        }
        guard (0...65535).contains(requestedPort) else { throw ServerError.badAddress(where_) }

        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError.system("metrics socket", errno) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            // [::] means IPv6 only, as written; an operator wanting IPv4 too says 0.0.0.0.
            _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let bound: Int32
        if family == AF_INET {
            bound = withUnsafePointer(to: &v4) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        } else {
            bound = withUnsafePointer(to: &v6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        guard bound == 0 else { let e = errno; close(fd); throw ServerError.system("metrics listen \(where_): bind", e) }
        guard listen(fd, 64) == 0 else { let e = errno; close(fd); throw ServerError.system("metrics listen \(where_): listen", e) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)

        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &ss) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        var actualPort = requestedPort
        if named == 0 {
            actualPort = withUnsafePointer(to: &ss) { p in
                family == AF_INET
                    ? p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
                    : p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
        }
        boundPort.withLock { $0 = actualPort }
        loop.start(listening: fd)
    }

    /// Stops accepting and closes the listening socket. Connections being served finish.
    public func stop() {
        loop.stop()
    }

    // MARK: one connection

    private static func serve(_ c: BoundedAcceptLoop.Connection, render: () -> [UInt8]) {
        guard let head = readHead(c.fd, firstByteBy: c.firstByteDeadline, by: c.requestDeadline) else { return }
        let response = respond(to: head, render: render)
        _ = DeadlineIO.sendAll(c.fd, response, until: c.answerDeadline())
        // Let the client read everything before the close (no RST over unread data).
        _ = shutdown(c.fd, Int32(SHUT_WR))
    }

    /// The response bytes for one request head (request line + headers, without the blank line).
    static func respond(to head: String, render: () -> [UInt8]) -> [UInt8] {
        let requestLine = head.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false).first
            .map { $0.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? "" } ?? ""
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            return message(400, "Bad Request", "malformed request\n")
        }
        let method = parts[0]
        var target = Substring(parts[1])
        if let q = target.firstIndex(where: { $0 == "?" || $0 == "#" }) { target = target[..<q] }
        guard method == "GET" || method == "HEAD" else {
            return message(405, "Method Not Allowed", "only GET and HEAD\n", extra: "Allow: GET, HEAD\r\n")
        }
        guard target == "/metrics" else { return message(404, "Not Found", "only /metrics is served here\n") }
        let body = render()
        var out = Array(("HTTP/1.1 200 OK\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
            + "Cache-Control: no-store\r\nConnection: close\r\n\r\n").utf8)
        if method == "GET" { out += body }
        return out
    }

    static func message(_ code: Int, _ reason: String, _ body: String, extra: String = "") -> [UInt8] {
        Array(("HTTP/1.1 \(code) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + extra + "Connection: close\r\n\r\n" + body).utf8)
    }

    /// Reads up to the blank line ending the request head. Nil when a deadline passes, the
    /// peer closes first, or the head exceeds `maxRequestHead`.
    static func readHead(_ fd: Int32, firstByteBy first: Double, by end: Double) -> String? {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 2048)
        while data.count <= maxRequestHead {
            guard case .bytes(let n) = DeadlineIO.receive(fd, into: &buf, until: data.isEmpty ? first : end) else { return nil }
            let searchFrom = max(0, data.count - 3)
            data += buf[0..<n]
            if let i = headEnd(data, from: searchFrom) { return String(decoding: data[..<i], as: UTF8.self) }
        }
        return nil
    }

    /// Index of the `\r\n\r\n` (or bare `\n\n`) ending the head.
    static func headEnd(_ d: [UInt8], from: Int) -> Int? {
        var i = from
        while i < d.count {
            if d[i] == 0x0A {
                if i >= 1, d[i - 1] == 0x0A { return i - 1 }
                if i >= 3, d[i - 1] == 0x0D, d[i - 2] == 0x0A, d[i - 3] == 0x0D { return i - 3 }
            }
            i += 1
        }
        return nil
    }
}
