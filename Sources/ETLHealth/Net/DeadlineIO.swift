import Glibc

/// Socket reads and writes bounded by an absolute deadline on CLOCK_MONOTONIC.
///
/// Every wait is a `poll(2)` that ends at the deadline, whatever the peer does, so a client
/// that trickles one byte at a time or never reads its answer cannot stretch it; per-read
/// timeouts (SO_RCVTIMEO) would restart with every byte. Works on blocking and non-blocking
/// descriptors alike: sends use MSG_DONTWAIT, and EAGAIN only means "poll again".
enum DeadlineIO {
    /// What one `receive` got.
    enum Received: Equatable {
        /// This many bytes, at the start of the buffer.
        case bytes(Int)
        /// The peer closed its side (EOF).
        case closed
        /// The deadline passed first.
        case timedOut
        /// The socket failed (errno), e.g. ECONNRESET.
        case failed(Int32)
    }

    /// Seconds on CLOCK_MONOTONIC (immune to wall-clock steps).
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Waits for `events` on `fd` until `end`; false on timeout or a poll error. Hang-up and
    /// socket errors count as ready, so the following call reports them.
    static func waitReady(_ fd: Int32, events: Int16, until end: Double) -> Bool {
        while true {
            let left = end - now()
            guard left > 0 else { return false }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let r = poll(&p, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
            if r < 0 { if errno == EINTR { continue }; return false }
            if r == 0 { continue }  // re-check the deadline
            return p.revents & (events | Int16(POLLHUP) | Int16(POLLERR)) != 0
        }
    }

    /// One read of at most `buffer.count` bytes, waiting no later than `end`.
    static func receive(_ fd: Int32, into buffer: inout [UInt8], until end: Double) -> Received {
        while true {
            guard waitReady(fd, events: Int16(POLLIN), until: end) else { return .timedOut }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            let e = errno
            if e == EINTR || e == EAGAIN || e == EWOULDBLOCK { continue }
            return .failed(e)
        }
    }

    /// Writes all of `bytes` by `end`; false when the deadline passes or the peer is gone.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8], until end: Double) -> Bool {
        var off = 0
        while off < bytes.count {
            guard waitReady(fd, events: Int16(POLLOUT), until: end) else { return false }
            // MSG_NOSIGNAL: a peer that hung up must yield EPIPE, not kill the daemon with SIGPIPE.
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n < 0 {
                let e = errno
                if e == EINTR || e == EAGAIN || e == EWOULDBLOCK { continue }
                return false
            }
            off += n
        }
        return true
    }

    /// One write that never waits: what fits in the socket's buffer now is sent, the rest
    /// dropped. For short notices to a connection that is about to be closed.
    static func sendNow(_ fd: Int32, _ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
    }
}
