import ETLCore
import ETLExtraction
import ETLState
import ETLTransform
import FoundationEssentials
import Logging

/// Polls one playlist end to end: metadata → (if the snapshot changed) a full scan of items →
/// diff against stored membership → rows → ONE state transaction with the outbox rows.
///
/// A kill -9 at any instant leaves either everything of a snapshot committed or nothing, and
/// the next poll catches up, because the watermark only moves inside that same transaction.
public final class PlaylistPoller: @unchecked Sendable {
    /// Source of API bodies. `SpotifyClient` in production; the benchmark replays recorded pages.
    public protocol Source: AnyObject {
        func playlistMetadata(_ id: String) throws -> Data
        func itemsPage(_ id: String, offset: Int) throws -> Data
        func itemsPage(url: String) throws -> Data
        func artists(_ ids: [String]) throws -> [String: Data?]
    }

    private let source: Source
    private let state: StateStore
    private let clock: Clock
    private let logger: Logger
    private let metrics: PipelineMetrics
    /// Enrich artists with `/artists` (genres, followers, popularity) when first seen.
    private let enrichArtists: Bool
    static let maxScanRestarts = 3
    /// Serializes "which dimension ids are new?" with the commit that records them. Without it
    /// two playlists polled at once could both see a shared track as unseen and both write it.
    /// Only this short, local step is serialized; the network work stays concurrent.
    private let commitLock = Lock()
    /// Asked before each further page of a scan: a date stops the scan and defers the poll
    /// until then. The daemon wires `StorageGuard` in, so a long scan in flight when the state
    /// filesystem fills up stops spending API requests on a commit that cannot be written.
    /// Set once, before polling starts.
    public var pauseCheck: (@Sendable () -> (until: Date, reason: String)?)?

    public init(source: Source, state: StateStore, clock: Clock = SystemClock(), logger: Logger,
                metrics: PipelineMetrics = PipelineMetrics(), enrichArtists: Bool = true) {
        self.source = source
        self.state = state
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.enrichArtists = enrichArtists
    }

    public func poll(_ playlistID: String) -> PollOutcome {
        var log = logger
        log[metadataKey: "playlist_id"] = "\(playlistID)"
        let startedAt = clock.now()
        let outcome: PollOutcome
        do {
            outcome = try pollOrThrow(playlistID, startedAt: startedAt, log: log)
        } catch let e as SpotifyError {
            outcome = Self.outcome(for: e)
        } catch let e as StateError {
            outcome = .failed(reason: "state: \(e)")
        } catch {
            outcome = .failed(reason: "\(error)")
        }
        metrics.polled(outcome)
        record(outcome, playlistID: playlistID, at: startedAt, log: log)
        return outcome
    }

    static func outcome(for e: SpotifyError) -> PollOutcome {
        switch e {
        case .deferred(let until, let reason): return .deferred(until: until, reason: reason)
        case .playlistUnavailable(let status, let message): return .unavailable(status: status, message: message)
        case .refreshTokenExpired: return .authExpired(message: SpotifyError.refreshTokenExpiredMessage)
        case .malformed(let m): return .failed(reason: "malformed API response: \(m)")
        default: return .failed(reason: e.description)
        }
    }

    private func record(_ outcome: PollOutcome, playlistID: String, at: Date, log: Logger) {
        switch outcome {
        case .unchanged:
            try? state.recordPoll(playlistID: playlistID, at: at, error: nil, nextDueAt: nil)
            log.debug("unchanged")
        case .changed(let rows, let rejects, let added, let removed):
            log.info("snapshot committed", metadata: ["rows": "\(rows)", "rejects": "\(rejects)",
                                                      "added": "\(added)", "removed": "\(removed)"])
        case .deferred(let until, let reason):
            // Not an error of the playlist: the watermark keeps its last error untouched.
            try? state.setNextDue(playlistID: playlistID, at: until)
            log.notice("deferred", metadata: ["until": "\(Timestamp.iso(until))", "reason": "\(reason)",
                                              "retry_after_s": "\(Int(max(0, until.timeIntervalSince(at))))"])
        case .unavailable(let status, let message):
            try? state.recordPoll(playlistID: playlistID, at: at, error: "HTTP \(status): \(message)", nextDueAt: nil)
            log.warning("playlist unavailable: \(message)", metadata: ["http_status": "\(status)", "error_code": "playlist_unavailable"])
        case .failed(let reason):
            try? state.recordPoll(playlistID: playlistID, at: at, error: reason, nextDueAt: nil)
            log.error("poll failed: \(reason)", metadata: ["error_code": "poll_failed"])
        case .authExpired(let message):
            try? state.recordPoll(playlistID: playlistID, at: at, error: message, nextDueAt: nil)
            log.critical("\(message)", metadata: ["error_code": "refresh_token_expired"])
        }
    }

    private func pollOrThrow(_ playlistID: String, startedAt: Date, log: Logger) throws -> PollOutcome {
        var meta = try decodeMeta(source.playlistMetadata(playlistID))
        let watermark = try state.watermark(playlistID)
        if let watermark, watermark.snapshotID == meta.snapshotID {
            return .unchanged
        }
        // snapshot_id is a hint, not proof: a rename changes it too. A full scan decides.
        var entries: [ParsedEntry] = []
        var settled = false
        for attempt in 1...Self.maxScanRestarts {
            entries = try scan(playlistID)
            let check = try decodeMeta(source.playlistMetadata(playlistID))
            if check.snapshotID == meta.snapshotID { settled = true; break }
            log.info("snapshot changed during scan; restarting", metadata: ["attempt": "\(attempt)"])
            meta = check
        }
        guard settled else {
            return .failed(reason: "snapshot kept changing during \(Self.maxScanRestarts) scans")
        }
        return try commit(meta: meta, entries: entries, startedAt: startedAt)
    }

    private func decodeMeta(_ data: Data) throws -> PlaylistMeta {
        do { return try decodePlaylistMeta(data) } catch { throw SpotifyError.malformed(error.description) }
    }

    /// Reads every page, following `next`. Restarts (by throwing a marker) are not needed
    /// here: a `total` that moves between pages means the playlist changed under us, and the
    /// caller's snapshot re-check catches that too.
    private func scan(_ playlistID: String) throws -> [ParsedEntry] {
        var entries: [ParsedEntry] = []
        var page = try decodePage(source.itemsPage(playlistID, offset: 0))
        entries.reserveCapacity(page.total)
        var pages = 0
        while true {
            entries.append(contentsOf: page.entries)
            pages += 1
            guard let next = page.next, !page.entries.isEmpty, pages < 100_000 else { break }
            if let pause = pauseCheck?() { throw SpotifyError.deferred(until: pause.until, reason: pause.reason) }
            page = try decodePage(source.itemsPage(url: next))
        }
        return entries
    }

    private func decodePage(_ data: Data) throws -> ParsedItemsPage {
        do { return try decodeParsedItemsPage(data) } catch { throw SpotifyError.malformed(error.description) }
    }

    /// What the state knew of a snapshot's tracks before the commit lock, and which album and
    /// artist ids still need a lookup. Everything here stays true once true (seen rows are
    /// never deleted, `complete` never goes back), so it may be used under the lock; only
    /// "unseen" answers are asked again there.
    private struct TrackCoverage {
        /// Stored state and fingerprint of every track id of the snapshot.
        var tracks: [String: SeenRecord] = [:]
        /// Album and artist ids of entries whose track is not covered (unseen, or its stored
        /// fingerprint is missing or differs): these are looked up as before. The album and
        /// artist ids of covered entries alone are known seen: recorded in the transaction
        /// that stored the matching fingerprint.
        var openAlbums: Set<String> = []
        var openArtists: Set<String> = []
        /// Open artist ids in first-seen order (the order enrichment asks for them).
        var openArtistOrder: [String] = []
        /// Fingerprint to record per track id whose stored one differs (or is missing): the
        /// one of the track's first entry, whose fact becomes the track row.
        var newDims: [String: UInt64] = [:]
        /// Per entry: a covered track, whose track, album and artist facts need not even be
        /// collected (nothing of them would be looked up or written).
        var coveredEntries: [Bool] = []
    }

    /// Sorts the album and artist ids of a snapshot into known-seen and open, from the
    /// tracks' fingerprints. A track of the stored membership whose stored fingerprint equals
    /// its entry's is covered without a lookup: the commit that stored that member recorded
    /// every id of that fingerprint seen (and the track itself seen, complete). Every other
    /// track is looked up (state and fingerprint, one indexed lookup each — cheaper than the
    /// album and two or more artist lookups a covered track saves).
    private func trackCoverage(for entries: [ParsedEntry], previous: [Member]) throws -> TrackCoverage {
        var c = TrackCoverage()
        var memberDims: [String: UInt64] = [:]
        for m in previous { if let t = m.trackID, let d = m.dims { memberDims[t] = d } }
        var trackIDs: [String] = []
        trackIDs.reserveCapacity(entries.count)
        // One fingerprint per entry (0 for non-tracks), computed once for both passes below.
        let fingerprints: [UInt64] = entries.map { e in
            if case .track(let t, _) = e { return t.dimsFingerprint } else { return 0 }
        }
        for (i, e) in entries.enumerated() {
            guard case .track(let t, _) = e else { continue }
            if let d = memberDims[t.id], d == fingerprints[i] {
                c.tracks[t.id] = SeenRecord(.complete, dims: d)
            } else {
                trackIDs.append(t.id)
            }
        }
        if !trackIDs.isEmpty {
            for (id, r) in try state.seenRecords(kind: .track, ids: trackIDs) where c.tracks[id] == nil { c.tracks[id] = r }
        }
        c.coveredEntries = [Bool](repeating: false, count: entries.count)
        guard !c.tracks.isEmpty else { return c }
        c.openAlbums.reserveCapacity(trackIDs.count / 4)
        var firstEntry = Set<String>()
        firstEntry.reserveCapacity(c.tracks.count)
        for (i, e) in entries.enumerated() {
            guard case .track(let t, _) = e else { continue }
            let fingerprint = fingerprints[i]
            let stored = c.tracks[t.id] ?? SeenRecord(.unseen)
            let covered = stored.state != .unseen && stored.dims == fingerprint
            if firstEntry.insert(t.id).inserted, !covered { c.newDims[t.id] = fingerprint }
            c.coveredEntries[i] = covered
            guard !covered else { continue }
            c.openAlbums.insert(t.album.id)
            for a in t.artists where c.openArtists.insert(a.id).inserted { c.openArtistOrder.append(a.id) }
            for a in t.album.artists where c.openArtists.insert(a.id).inserted { c.openArtistOrder.append(a.id) }
        }
        return c
    }

    private func commit(meta: PlaylistMeta, entries: [ParsedEntry], startedAt: Date) throws -> PollOutcome {
        let observedAt = Timestamp.iso(startedAt)
        let previous = try state.members(meta.id)
        let coverage = try trackCoverage(for: entries, previous: previous)
        let (extraArtists, completeArtists) = enrichment(for: coverage.openArtistOrder)
        let result = SnapshotTransform.apply(meta: meta, entries: entries, previous: previous,
                                             extraArtists: extraArtists, knownDimensions: coverage.coveredEntries,
                                             observedAt: observedAt)
        var rows: [Row] = [RowBuilder.playlistRow(meta, observedAt: observedAt)]
        rows.append(contentsOf: result.eventRows)
        commitLock.lock()
        defer { commitLock.unlock() }

        // Dimensions: write an id the first time it is seen, and again only when a fact that
        // was incomplete (artist without genres) is now complete.
        var seen: [SeenMark] = []
        var dims: [SeenDims] = []
        // Episodes of the stored membership need no lookup: the transaction that stored that
        // membership also marked every one of them seen, complete (episode facts are always
        // complete), and seen rows are never deleted.
        let memberEpisodes = Set(previous.lazy.compactMap(\.episodeID))
        var byKind: [DimensionKind: [DimensionFact]] = [:]
        for f in result.dimensions { byKind[f.key.kind, default: []].append(f) }
        for (kind, facts) in byKind.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            // Which ids need a lookup here, under the lock; the others are known seen, and
            // none of them would be written: tracks found seen before the lock (track facts
            // are always complete); albums and artists of covered tracks only (recorded seen
            // with the matching fingerprint; an incomplete artist among them is left to
            // `EnrichmentSweep`, and no complete fact was fetched for it); artists the
            // enrichment step found complete; member episodes.
            let needsLookup: (String) -> Bool
            switch kind {
            case .track: needsLookup = { (coverage.tracks[$0]?.state ?? .unseen) == .unseen }
            case .album: needsLookup = { coverage.openAlbums.contains($0) }
            case .artist: needsLookup = { coverage.openArtists.contains($0) && !completeArtists.contains($0) }
            case .episode: needsLookup = { !memberEpisodes.contains($0) }
            }
            let lookup: [String] = facts.compactMap { needsLookup($0.key.id) ? $0.key.id : nil }
            let states: [String: SeenState] = lookup.isEmpty ? [:] : try state.seenStates(kind: kind, ids: lookup)
            for f in facts {
                // An id without a lookup is known seen: nothing to write.
                if let s = states[f.key.id], s == .unseen || (s == .incomplete && f.isComplete) {
                    rows.append(f.row(observedAt: observedAt))
                    seen.append(SeenMark(kind, f.key.id, complete: f.isComplete,
                                         dims: kind == .track ? coverage.newDims[f.key.id] : nil))
                } else if kind == .track, let d = coverage.newDims[f.key.id] {
                    // A seen track whose fingerprint changed (or was never stored): record the
                    // new one. Its album and artists are open, so this loop looked them up
                    // (kinds go album, artist, …, track) and writes them as needed in this
                    // same transaction.
                    dims.append(SeenDims(.track, f.key.id, dims: d))
                }
            }
        }
        // Rejects once per offending entry per playlist.
        var rejectHashes: [String] = []
        var rejectCount = 0
        for r in result.rejects where !rejectHashes.contains(r.hash) {
            if try state.isRejectSeen(playlistID: meta.id, hash: r.hash) { continue }
            rejectHashes.append(r.hash)
            rows.append(r.row)
            rejectCount += 1
        }
        let itemCount = meta.total ?? entries.count
        try state.commit(SnapshotCommit(playlistID: meta.id, snapshotID: meta.snapshotID, name: meta.name,
                                        itemCount: itemCount, maxAddedAt: result.maxAddedAt, changedAt: startedAt,
                                        polledAt: startedAt, members: result.members, seen: seen,
                                        rejectHashes: rejectHashes, rows: rows, nextDueAt: nil, dims: dims))
        metrics.extracted(rows: rows.count - rejectCount, rejected: rejectCount)
        return .changed(rows: rows.count, rejects: rejectCount, added: result.added.count, removed: result.removed.count)
    }

    /// Full artist objects for the open artist ids (see `TrackCoverage`) not yet complete in
    /// the state. Failures leave the fields null (the row is marked incomplete) and
    /// `EnrichmentSweep` retries later. Also returns the ids found complete, so `commit` need
    /// not look them up again. Artists of covered tracks are neither looked up nor fetched:
    /// they are seen, and if incomplete, `EnrichmentSweep` completes them.
    private func enrichment(for ids: [String]) -> ([ArtistFact], Set<String>) {
        guard enrichArtists else { return ([], []) }
        guard !ids.isEmpty, let states = try? state.seenStates(kind: .artist, ids: ids) else { return ([], []) }
        var complete = Set<String>()
        complete.reserveCapacity(ids.count)
        var wanted: [String] = []
        for id in ids {
            if states[id] == .complete { complete.insert(id) } else { wanted.append(id) }
        }
        guard !wanted.isEmpty else { return ([], complete) }
        guard let fetched = try? source.artists(wanted) else { return ([], complete) }
        return (wanted.compactMap { id in fetched[id].flatMap { $0 }.flatMap { try? decodeArtist($0) } }, complete)
    }
}
