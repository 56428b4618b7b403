import ETLCore
import ETLExtraction
import ETLHealth
import ETLState
import FoundationEssentials
import ETLConfig
import ETLSink

/// What the daemon knows of itself, for the STATUS= line and `spotifyd-etl status`. Updated
/// from the scheduler and flusher queues; read from the control socket's.
final class StatusBoard: @unchecked Sendable {
    private let components: Components
    private let lock = Lock()
    private var playlistIDs: [String]
    private var changedAt: [Date] = []
    private var outboxRows = 0
    private var authExpired: String?
    private var storageProblem: String?
    private var lastUploadFailure: String?

    init(components: Components) {
        self.components = components
        self.playlistIDs = components.config.playlists.map(\.id)
        self.outboxRows = Self.countOutbox(components.state)
    }

    func setPlaylists(_ ids: [String]) { lock.withLock { playlistIDs = ids } }

    func record(_ id: String, _ outcome: PollOutcome, lag: Double) {
        components.metrics.lag(lag)
        lock.withLock {
            switch outcome {
            case .changed:
                changedAt.append(Date())
                authExpired = nil
                storageProblem = nil
            case .authExpired(let message):
                authExpired = message
            case .failed(let reason) where reason.hasPrefix("state:"):
                storageProblem = reason
            case .unchanged, .unavailable:
                authExpired = nil
            default: break
            }
        }
        if case .changed = outcome { refreshOutbox() }
    }

    /// The state DB takes writes again (StorageGuard's probe succeeded).
    func storageCleared() { lock.withLock { storageProblem = nil } }

    func flushed(_ r: Flusher.Result) {
        lock.withLock { lastUploadFailure = r.failure?.description }
        refreshOutbox()
    }

    private func refreshOutbox() {
        let n = Self.countOutbox(components.state)
        lock.withLock { outboxRows = n }
    }

    static func countOutbox(_ state: StateStore) -> Int {
        let unsealed = (try? state.outboxSummary().values.reduce(0) { $0 + $1.rows }) ?? 0
        let pending = (try? state.pendingBatchSummary().values.reduce(0) { $0 + $1.rows }) ?? 0
        return unsealed + pending
    }

    /// One line, e.g. `12 playlists, 3 changed last hour, outbox 0, last upload 12:03:11Z`, or
    /// what the daemon is waiting for.
    func line(gate: RateGate) -> String {
        let now = Date()
        return lock.withLock {
            if let authExpired { return "error: \(authExpired)" }
            if let storageProblem { return "error: \(storageProblem); not taking new work until it clears" }
            if let g = gate.state(now: now) {
                return "waiting: Spotify rate limit until \(Self.hm(g.notBefore))Z (\(g.reason))"
            }
            changedAt.removeAll { now.timeIntervalSince($0) > 3600 }
            var s = "\(playlistIDs.count) playlists, \(changedAt.count) changed last hour, outbox \(outboxRows)"
            if let last = try? components.state.lastUpload() {
                s += ", last upload \(Self.hms(last.at))Z"
            }
            if let f = lastUploadFailure { s += ", upload failing: \(f)" }
            return s
        }
    }

    func report(startedAt: Date, gate: RateGate, tokens: TokenProvider, scheduler: Scheduler, watchdog: String) -> StatusReport {
        let now = Date()
        let plan = scheduler.snapshot().plan
        let ids = lock.withLock { playlistIDs }
        let marks = Dictionary(((try? components.state.allWatermarks()) ?? []).map { ($0.playlistID, $0) },
                               uniquingKeysWith: { a, _ in a })
        let playlists = ids.map { id -> StatusReport.Playlist in
            let w = marks[id]
            return StatusReport.Playlist(id: id, name: w?.name, lastPoll: w?.lastPolledAt.map(Timestamp.iso),
                                         snapshotID: w?.snapshotID, items: w?.itemCount,
                                         nextDue: plan.entry(id).map { Timestamp.iso($0.parkedUntil.map { max($0, plan.entry(id)!.nextDue) } ?? $0.nextDue) },
                                         lastError: w?.lastError)
        }
        let g = gate.state(now: now)
        let rate = g.map { StatusReport.RateGate(state: "throttled", until: Timestamp.iso($0.notBefore), reason: $0.reason) }
            ?? StatusReport.RateGate(state: "free")
        let (expired, storage) = lock.withLock { (authExpired, storageProblem) }
        let token = StatusReport.Token(expiresAt: tokens.tokenExpiry.map(Timestamp.iso),
                                       state: expired != nil ? "refresh token expired: re-run `spotifyd-etl login`"
                                           : (tokens.tokenExpiry.map { $0 > now ? "valid" : "expired (refreshed on next request)" } ?? "none yet"))
        var outbox: [StatusReport.Outbox] = []
        let unsealed = (try? components.state.outboxSummary()) ?? [:]
        let pending = (try? components.state.pendingBatchSummary()) ?? [:]
        var pendingBatches = 0
        for t in Table.allCases {
            let u = unsealed[t], p = pending[t]
            pendingBatches += p?.batches ?? 0
            let rows = (u?.rows ?? 0) + (p?.rows ?? 0)
            let oldest = [u?.oldest, p?.oldestSealedAt].compactMap { $0 }.min()
            outbox.append(StatusReport.Outbox(table: t.rawValue, rows: rows, oldestAgeS: oldest.map { now.timeIntervalSince($0) }))
        }
        let upload = (try? components.state.lastUpload()).flatMap { $0 }.map { StatusReport.Upload(key: $0.key, at: Timestamp.iso($0.at)) }
        return StatusReport(version: ETLVersion.string, uptimeS: now.timeIntervalSince(startedAt), startedAt: Timestamp.iso(startedAt),
                            playlists: playlists, rateGate: rate, token: token, outbox: outbox, pendingBatches: pendingBatches,
                            lastUpload: upload, watchdog: StatusReport.Watchdog(state: watchdog),
                            disk: StatusReport.Disk(state: storage ?? "ok"))
    }

    static func hm(_ d: Date) -> String { String(Timestamp.iso(d).dropFirst(11).prefix(5)) }
    static func hms(_ d: Date) -> String { String(Timestamp.iso(d).dropFirst(11).prefix(8)) }
}
