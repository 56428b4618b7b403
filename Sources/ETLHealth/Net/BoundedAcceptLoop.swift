import Dispatch
import ETLCore
import Glibc
import Logging

/// Accepting on a listening stream socket so that clients can neither hold nor flood it. The
/// control socket and the `/metrics` endpoint both accept through one of these.
///
/// - **Cap.** At most `maxConnections` accepted connections are open at once, whatever they
///   are doing (waiting for the request, being handled, taking the answer). A connection beyond
///   that is accepted and closed at once, after `refusal` is written without waiting, so the
///   backlog does not fill with clients nobody will serve. The first refusal of a run at the
///   cap logs one warning.
/// - **Deadlines.** Each connection carries deadlines on CLOCK_MONOTONIC stamped at accept:
///   the first byte of its request by `firstByteWithin` (when set), the whole request by
///   `deadline`. Trickling a byte at a time does not extend either. Each write of the answer
///   gets `deadline` again to be taken (`Connection.answerDeadline()`, stamped per write),
///   however long the handler or the making of that piece took. The serving closure does all
///   its I/O through `DeadlineIO` with these.
/// - **Out of descriptors.** EMFILE, ENFILE, ENOBUFS and ENOMEM at accept leave the listening
///   socket readable, so accepting again at once would spin. Instead, accepting pauses for
///   `backoff`. The clients wait in the backlog meanwhile. Each run of these failures logs
///   one warning; the next successful accept ends the run.
///
/// Accepts run on one serial queue. Each connection is served on a concurrent queue, and the
/// loop closes it when the serving closure returns.
final class BoundedAcceptLoop: Sendable {
    /// One accepted connection: a non-blocking, close-on-exec socket and its deadlines.
    struct Connection: Sendable {
        let fd: Int32
        /// When the first byte of the request must have arrived (never after `requestDeadline`).
        let firstByteDeadline: Double
        /// When the whole request must have arrived.
        let requestDeadline: Double
        /// How long each write of the answer may take, from when that piece is ready.
        let answerWindow: Double

        func answerDeadline() -> Double { DeadlineIO.now() + answerWindow }
    }

    /// Counters, for `status`-style reporting and for tests.
    struct Stats: Sendable, Equatable {
        /// Connections admitted and handed to the serving closure.
        var accepted = 0
        /// Connections closed at accept because the cap was full.
        var refusedAtCap = 0
        /// Calls to accept(2), successful or not.
        var acceptCalls = 0
        /// Pauses after EMFILE/ENFILE/ENOBUFS/ENOMEM.
        var backoffs = 0
        /// Connections open now.
        var active = 0
    }

    let name: String
    let maxConnections: Int
    let deadline: Double
    let firstByteWithin: Double
    let backoff: Double
    private let refusal: [UInt8]
    private let logger: Logger
    private let serve: @Sendable (Connection) -> Void
    private let acceptQueue: DispatchQueue
    private let workQueue: DispatchQueue

    private struct State {
        /// The accept source while serving; cancelling it closes the listening socket.
        var source: DispatchSourceRead?
        /// Bumped by every start and stop, so a backoff timer never resumes a later source.
        var generation = 0
        /// Suspended while backing off.
        var suspended = false
        /// Warned about this run of descriptor shortage / of refusals at the cap.
        var warnedShortage = false
        var warnedFull = false
        var stats = Stats()
    }
    private let state = Guarded(State())

    /// `name` prefixes log messages ("control socket"); `queueLabel` names the queues
    /// (`<queueLabel>.accept`, `<queueLabel>.conn`).
    init(name: String, queueLabel: String, maxConnections: Int = 16, deadline: Double = 5,
         firstByteWithin: Double? = nil, refusal: [UInt8] = [], backoff: Double = 0.1,
         logger: Logger, serve: @escaping @Sendable (Connection) -> Void) {
        self.name = name
        self.maxConnections = max(1, maxConnections)
        self.deadline = deadline
        self.firstByteWithin = min(firstByteWithin ?? deadline, deadline)
        self.backoff = backoff
        self.refusal = refusal
        self.logger = logger
        self.serve = serve
        acceptQueue = DispatchQueue(label: queueLabel + ".accept")
        workQueue = DispatchQueue(label: queueLabel + ".conn", attributes: .concurrent)
    }

    deinit { stop() }

    var stats: Stats { state.withLock { $0.stats } }

    /// Starts accepting on `listenFD` (bound, listening, non-blocking), which the loop now owns:
    /// `stop` closes it. A previous listening socket is closed first.
    func start(listening listenFD: Int32) {
        // Dispatch sources are not Sendable: made, started, suspended and cancelled only under the lock.
        state.withLock { s in
            Self.cancel(&s)
            let src = DispatchSource.makeReadSource(fileDescriptor: listenFD, queue: acceptQueue)
            src.setEventHandler { [weak self] in self?.acceptPending(listenFD) }
            src.setCancelHandler { close(listenFD) }
            src.resume()
            s.source = src
        }
    }

    /// Stops accepting and closes the listening socket; connections being served finish.
    /// True when it was accepting.
    @discardableResult
    func stop() -> Bool {
        state.withLock { s in
            let was = s.source != nil
            Self.cancel(&s)
            return was
        }
    }

    private static func cancel(_ s: inout State) {
        s.generation += 1
        guard let src = s.source else { return }
        src.cancel()
        // A suspended source never runs its cancel handler (which closes the socket).
        if s.suspended { src.resume(); s.suspended = false }
        s.source = nil
    }

    /// Runs on `acceptQueue` only, before the source's cancel handler closes `listenFD`.
    private func acceptPending(_ listenFD: Int32) {
        while true {
            state.withLock { $0.stats.acceptCalls += 1 }
            let c = accept(listenFD, nil, nil)
            if c < 0 {
                let e = errno
                if e == EINTR || e == ECONNABORTED { continue }
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM { backOff(e) }
                return  // EAGAIN: drained
            }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
            let acceptedAt = DeadlineIO.now()
            let (admitted, warnFull) = state.withLock { s -> (Bool, Bool) in
                s.warnedShortage = false
                guard s.stats.active < maxConnections else {
                    s.stats.refusedAtCap += 1
                    defer { s.warnedFull = true }
                    return (false, !s.warnedFull)
                }
                s.warnedFull = false
                s.stats.active += 1
                s.stats.accepted += 1
                return (true, false)
            }
            guard admitted else {
                if warnFull {
                    logger.warning("\(name): all \(maxConnections) connections in use; refusing new ones until one ends")
                }
                DeadlineIO.sendNow(c, refusal)
                close(c)
                continue
            }
            let connection = Connection(fd: c, firstByteDeadline: acceptedAt + firstByteWithin,
                                        requestDeadline: acceptedAt + deadline, answerWindow: deadline)
            workQueue.async { [self] in
                serve(connection)
                close(c)
                state.withLock { $0.stats.active -= 1 }
            }
        }
    }

    /// Out of descriptors: the listening socket stays readable, so stop watching it for a
    /// moment rather than spin; the pending connections wait in the backlog.
    private func backOff(_ e: Int32) {
        let paused = state.withLock { s -> (generation: Int, warn: Bool)? in
            guard let src = s.source, !s.suspended else { return nil }
            src.suspend()
            s.suspended = true
            s.stats.backoffs += 1
            defer { s.warnedShortage = true }
            return (s.generation, !s.warnedShortage)
        }
        guard let paused else { return }
        if paused.warn {
            logger.warning("\(name): accept failed (\(String(cString: strerror(e)))); pausing accepts for \(Int(backoff * 1000)) ms at a time until it recovers")
        }
        acceptQueue.asyncAfter(deadline: .now() + .milliseconds(Int(backoff * 1000))) { [weak self] in
            self?.state.withLock { s in
                guard s.generation == paused.generation, s.suspended, let src = s.source else { return }
                s.suspended = false
                src.resume()
            }
        }
    }
}
