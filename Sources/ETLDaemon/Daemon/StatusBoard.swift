import ETLCore
import ETLExtraction
import ETLHealth
import ETLState
import FoundationEssentials
import ETLConfig
import ETLSink
import Synchronization

/// What the daemon knows of itself, for the STATUS= line and `spotifyd-etl status`. Updated
/// from the scheduler and flusher queues; read from the control socket's.
final class StatusBoard: Sendable {
    private struct Board {
        /// The playlists this instance polls (its shard's, when sharded).
        var playlistIDs: [String]
        /// How many playlists the config lists (all shards).
        var listed: Int
        var changedAt: [Date] = []
        var outboxRows = 0
        var outboxCountedAt = Date.distantPast
        var authExpired: String?
        var storageProblem: String?
        var lastUploadFailure: StatusReport.UploadError?
        /// The newest delivered batch: read from the state database at start and after a flush
        /// that delivered something, never per STATUS= line (that runs every second).
        var lastUpload: (key: String, at: Date)?
        var stopping = false
        /// Playlists without a watermark at start, until their first poll lands.
        var initialPending: Set<String> = []
        var initialTotal = 0
        var initialItems = 0
    }
    private let components: Components
    private let board: Guarded<Board>

    /// - Parameters:
    ///   - playlists: the playlists this instance polls (`AppConfig.ownPlaylists`).
    ///   - listed: how many the config lists, all shards together.
    init(components: Components, playlists: [String], listed: Int) {
        self.components = components
        let known = Set(((try? components.state.allWatermarks()) ?? []).compactMap { $0.snapshotID == nil ? nil : $0.playlistID })
        let pending = Set(playlists).subtracting(known)
        board = Guarded(Board(playlistIDs: playlists, listed: listed, outboxRows: Self.countOutbox(components.state),
                              lastUpload: (try? components.state.lastUpload()) ?? nil,
                              initialPending: pending, initialTotal: pending.count))
    }

    func setPlaylists(_ ids: [String], listed: Int) {
        board.withLock { b in
            b.playlistIDs = ids
            b.listed = listed
            // A playlist dropped by a reload no longer holds the initial load open.
            let gone = b.initialPending.subtracting(ids)
            b.initialPending.subtract(gone)
            b.initialTotal -= gone.count
        }
    }

    /// While playlists are loaded for the first time: how far along (nil once done).
    var initialLoad: StatusReport.InitialLoad? {
        board.withLock { b in
            guard !b.initialPending.isEmpty else { return nil }
            return StatusReport.InitialLoad(done: b.initialTotal - b.initialPending.count, total: b.initialTotal,
                                            items: b.initialItems)
        }
    }

    /// Shutdown began: the status line says so from now on.
    func setStopping() { board.withLock { $0.stopping = true } }

    func record(_ id: String, _ outcome: PollOutcome, lag: Double) {
        components.metrics.lag(lag)
        board.withLock { b in
            switch outcome {
            case .changed(_, _, let added, _):
                if b.initialPending.remove(id) != nil { b.initialItems += added }
                b.changedAt.append(Date())
                b.authExpired = nil
                b.storageProblem = nil
            case .failed(.authExpired):
                b.authExpired = PollFailure.authExpired.description
            case .failed(let f) where f.isStorage:
                b.storageProblem = f.description
            case .unchanged, .unavailable:
                b.initialPending.remove(id)
                b.authExpired = nil
            default: break
            }
        }
        // At most every `outboxRecount` seconds, not per changed poll: counting reads every
        // unsealed outbox entry under the store's lock, which made each changed poll cost
        // O(outbox) (11 % of the daemon's CPU in an initial load of 20,000 playlists). The
        // flusher's tick refreshes it too.
        if case .changed = outcome {
            let now = Date()
            let due = board.withLock { b -> Bool in
                guard now.timeIntervalSince(b.outboxCountedAt) >= Self.outboxRecount else { return false }
                b.outboxCountedAt = now
                return true
            }
            if due { refreshOutbox() }
        }
    }

    /// Seconds between outbox recounts triggered by polls.
    static let outboxRecount: Double = 5

    /// The state DB takes writes again (StorageGuard's probe succeeded).
    func storageCleared() { board.withLock { $0.storageProblem = nil } }

    func flushed(_ r: Flusher.Result) {
        let now = Timestamp.iso(Date())
        let delivered = r.uploaded > 0 ? (try? components.state.lastUpload()) ?? nil : nil
        board.withLock { b in
            b.lastUploadFailure = r.failure.map { StatusReport.UploadError(at: now, key: r.failedKey, error: $0.description) }
            if let delivered { b.lastUpload = delivered }
        }
        refreshOutbox()
    }

    private func refreshOutbox() {
        let n = Self.countOutbox(components.state)
        board.withLock { $0.outboxRows = n }
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
        let gateState = gate.state(now: now)
        return board.withLock { b in
            if b.stopping { return "stopping: draining in-flight polls, then a final flush" }
            if let authExpired = b.authExpired { return "error: \(authExpired)" }
            if let storageProblem = b.storageProblem { return "error: \(storageProblem); not taking new work until it clears" }
            if let g = gateState {
                return "waiting: Spotify rate limit until \(Self.hm(g.notBefore))Z (\(g.reason))"
            }
            if !b.initialPending.isEmpty {
                let load = StatusReport.InitialLoad(done: b.initialTotal - b.initialPending.count, total: b.initialTotal,
                                                    items: b.initialItems)
                return load.line + ", outbox \(b.outboxRows)"
            }
            b.changedAt.removeAll { now.timeIntervalSince($0) > 3600 }
            var s = "\(b.playlistIDs.count) playlists, \(b.changedAt.count) changed last hour, outbox \(b.outboxRows)"
            if let last = b.lastUpload {
                s += ", last upload \(Self.hms(last.at))Z"
            }
            if let f = b.lastUploadFailure { s += ", upload failing: \(f.error)" }
            return s
        }
    }

    /// - Parameter retryCadence: how long the flusher waits between attempts now (its tick, or
    ///   its backoff while uploads fail): the outbox may be that much older than 2 × `max_age`.
    func report(startedAt: Date, gate: RateGate, tokens: TokenProvider, scheduler: Scheduler, watchdog: StatusReport.Watchdog,
                watchdogHealthy: Bool, retryCadence: Double) -> StatusReport {
        let now = Date()
        let plan = scheduler.snapshot().plan
        let (ids, listed) = board.withLock { ($0.playlistIDs, $0.listed) }
        // Filled in place from the watermarks as they are read: at 100,000 playlists a copy of
        // every watermark and a dictionary of them cost more than the report itself.
        var playlists = ids.map { id -> StatusReport.Playlist in
            StatusReport.Playlist(id: id, nextDue: plan.entry(id).map { e in Timestamp.iso(e.parkedUntil.map { max($0, e.nextDue) } ?? e.nextDue) })
        }
        var position: [String: Int] = [:]
        position.reserveCapacity(ids.count)
        for (i, id) in ids.enumerated() where position[id] == nil { position[id] = i }
        try? components.state.forEachWatermark { w in
            guard let i = position[w.playlistID] else { return }
            playlists[i].name = w.name
            playlists[i].lastPoll = w.lastPolledAt.map(Timestamp.iso)
            playlists[i].snapshotID = w.snapshotID
            playlists[i].items = w.itemCount
            playlists[i].lastError = w.lastError
        }
        let g = gate.state(now: now)
        let rate = g.map { StatusReport.RateGate(state: "throttled", until: Timestamp.iso($0.notBefore), reason: $0.reason) }
            ?? StatusReport.RateGate(state: "free")
        let (expired, storage) = board.withLock { ($0.authExpired, $0.storageProblem) }
        let unsavedToken = components.refreshTokens.unsaved
        let token = StatusReport.Token(expiresAt: tokens.tokenExpiry.map(Timestamp.iso),
                                       state: expired != nil ? "refresh token expired: re-run `spotifyd-etl login`"
                                           : (tokens.tokenExpiry.map { $0 > now ? "valid" : "expired (refreshed on next request)" } ?? "none yet"),
                                       refreshTokenUnsaved: unsavedToken.map {
                                           StatusReport.UnsavedRefreshToken(since: Timestamp.iso($0.since), error: $0.error,
                                                                            attempts: $0.attempts, nextAttempt: Timestamp.iso($0.nextAttempt))
                                       })
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
        let upload = board.withLock { $0.lastUpload }.map { StatusReport.Upload(key: $0.key, at: Timestamp.iso($0.at)) }
        let uploadError = board.withLock { $0.lastUploadFailure }
        var health = HealthInputs(maxAge: components.config.sink.maxAge, retryCadence: retryCadence)
        health.uploadError = uploadError
        health.watchdogHealthy = watchdogHealthy
        health.watchdogState = watchdog.state
        health.storage = storage
        health.refreshTokenExpired = expired != nil
        health.refreshTokenUnsavedSince = unsavedToken?.since
        health.refreshTokenSaveError = unsavedToken?.error ?? ""
        let letters = components.flusher.deadLetters.summary()
        let deadLetters = letters.count == 0 ? nil
            : StatusReport.DeadLetters(count: letters.count, directory: components.flusher.deadLetters.directory.path,
                                       latestKey: letters.latest?.objectKey, latestReason: letters.latest?.reason)
        health.deadLetters = deadLetters
        if let g, g.cause == .quotaExceeded { health.quotaParkedUntil = g.notBefore }
        health.oldestOutboxAge = outbox.compactMap(\.oldestAgeS).max()
        var report = StatusReport(version: ETLVersion.string, uptimeS: now.timeIntervalSince(startedAt), startedAt: Timestamp.iso(startedAt),
                                  playlists: playlists, rateGate: rate, token: token, outbox: outbox, pendingBatches: pendingBatches,
                                  lastUpload: upload, watchdog: watchdog,
                                  disk: StatusReport.Disk(state: storage ?? "ok"))
        report.sink = Self.describeSink(components.config.sink)
        report.lastUploadError = uploadError
        report.health = StatusReport.Health(reasons: HealthVerdict.reasons(health))
        report.initialLoad = initialLoad
        report.deadLetters = deadLetters
        report.instance = Self.describeInstance(components.config.instance, own: ids.count, listed: listed)
        return report
    }

    /// The `[instance]` section and this instance's share of the playlist list; nil without an id.
    static func describeInstance(_ instance: AppConfig.Instance, own: Int, listed: Int) -> StatusReport.Instance? {
        guard let id = instance.id else { return nil }
        return StatusReport.Instance(id: id, shard: instance.shard.map {
            StatusReport.ShardShare(index: $0.index, count: $0.count, playlists: own, listed: listed)
        })
    }

    /// "local /var/lib/spotifyd-etl/out" or "s3://bucket/prefix".
    static func describeSink(_ sink: AppConfig.Sink) -> String {
        switch sink.kind {
        case .local: return "local \(sink.path)"
        case .s3: return "s3://\(sink.s3.bucket)" + (sink.s3.prefix.isEmpty ? "" : "/\(sink.s3.prefix)")
        }
    }

    static func hm(_ d: Date) -> String { String(Timestamp.iso(d).dropFirst(11).prefix(5)) }
    static func hms(_ d: Date) -> String { String(Timestamp.iso(d).dropFirst(11).prefix(8)) }
}
