import Foundation

/// A real sd_notify peer: binds an AF_UNIX datagram socket the daemon sends to via
/// NOTIFY_SOCKET, and collects what arrives (with arrival times).
final class NotifyListener: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [(Date, String)] = []
    private var thread: Thread?
    private var closed = false

    init(directory: URL) throws {
        path = directory.appendingPathComponent("notify-\(UInt32.random(in: 0...UInt32.max)).sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw NSError(domain: "notify", code: Int(errno)) }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let t = Thread { [weak self] in self?.loop() }
        thread = t
        t.start()
    }

    private func loop() {
        var buf = [UInt8](repeating: 0, count: 8192)
        while true {
            lock.lock(); let stop = closed; lock.unlock()
            if stop { return }
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 {
                let msg = String(decoding: buf[0..<n], as: UTF8.self)
                lock.lock(); received.append((Date(), msg)); lock.unlock()
            }
        }
    }

    func close() {
        lock.lock(); closed = true; lock.unlock()
        usleep(300_000)
        Glibc.close(fd)
        unlink(path)
    }

    var messages: [String] { lock.lock(); defer { lock.unlock() }; return received.map(\.1) }
    func messages(since: Date) -> [String] { lock.lock(); defer { lock.unlock() }; return received.filter { $0.0 >= since }.map(\.1) }

    /// Arrival times of the datagrams matching `match`, oldest first.
    func times(_ match: (String) -> Bool) -> [Date] {
        lock.lock(); defer { lock.unlock() }
        return received.filter { match($0.1) }.map(\.0)
    }

    /// The largest gap between consecutive WATCHDOG=1 pings in [from, to], counting the
    /// stretches from `from` to the first ping and from the last ping to `to`.
    func largestPingGap(from: Date, to: Date) -> TimeInterval {
        let pings = times { $0.split(separator: "\n").contains("WATCHDOG=1") }.filter { $0 >= from && $0 <= to }
        var edges = [from] + pings + [to]
        edges.sort()
        return zip(edges, edges.dropFirst()).map { $1.timeIntervalSince($0) }.max() ?? to.timeIntervalSince(from)
    }

    /// Waits until a message satisfying `match` arrives (or the timeout passes).
    @discardableResult
    func wait(timeout: Double = 20, _ match: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let m = messages.first(where: match) { return m }
            usleep(50_000)
        }
        return nil
    }
}
