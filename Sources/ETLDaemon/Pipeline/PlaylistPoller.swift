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
            page = try decodePage(source.itemsPage(url: next))
        }
        return entries
    }

    private func decodePage(_ data: Data) throws -> ParsedItemsPage {
        do { return try decodeParsedItemsPage(data) } catch { throw SpotifyError.malformed(error.description) }
    }

    private func commit(meta: PlaylistMeta, entries: [ParsedEntry], startedAt: Date) throws -> PollOutcome {
        let observedAt = Timestamp.iso(startedAt)
        let previous = try state.members(meta.id)
        let (extraArtists, completeArtists) = enrichment(for: entries)
        let result = SnapshotTransform.apply(meta: meta, entries: entries, previous: previous,
                                             extraArtists: extraArtists, observedAt: observedAt)
        var rows: [Row] = [RowBuilder.playlistRow(meta, observedAt: observedAt)]
        rows.append(contentsOf: result.eventRows)
        commitLock.lock()
        defer { commitLock.unlock() }

        // Dimensions: write an id the first time it is seen, and again only when a fact that
        // was incomplete (artist without genres) is now complete.
        var seen: [SeenMark] = []
        // Tracks and episodes of the stored membership need no lookup either: the transaction
        // that stored that membership also marked every one of them seen, complete (track
        // and episode facts are always complete), and seen rows are never deleted.
        let memberTracks = Set(previous.lazy.compactMap(\.trackID))
        let memberEpisodes = Set(previous.lazy.compactMap(\.episodeID))
        var byKind: [DimensionKind: [DimensionFact]] = [:]
        for f in result.dimensions { byKind[f.key.kind, default: []].append(f) }
        for (kind, facts) in byKind.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            // Artists the enrichment step already found complete need no second lookup: seen
            // rows are never deleted and `complete` never goes back, so such an artist is
            // still complete now and would not be written anyway. The others are looked up
            // again here, under the commit lock, as before. Same for member tracks/episodes.
            let known: Set<String>
            switch kind {
            case .artist: known = completeArtists
            case .track: known = memberTracks
            case .episode: known = memberEpisodes
            case .album: known = []
            }
            let lookup: [String] = known.isEmpty ? facts.map(\.key.id)
                : facts.compactMap { known.contains($0.key.id) ? nil : $0.key.id }
            let states: [String: SeenState] = lookup.isEmpty ? [:] : try state.seenStates(kind: kind, ids: lookup)
            for f in facts {
                let s: SeenState = known.contains(f.key.id) ? .complete : (states[f.key.id] ?? .unseen)
                if s == .unseen || (s == .incomplete && f.isComplete) {
                    rows.append(f.row(observedAt: observedAt))
                    seen.append(SeenMark(kind, f.key.id, complete: f.isComplete))
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
                                        rejectHashes: rejectHashes, rows: rows, nextDueAt: nil))
        metrics.extracted(rows: rows.count - rejectCount, rejected: rejectCount)
        return .changed(rows: rows.count, rejects: rejectCount, added: result.added.count, removed: result.removed.count)
    }

    /// Full artist objects for artists not yet complete in the state. Failures leave the
    /// fields null (the row is marked incomplete) and `EnrichmentSweep` retries later.
    /// Also returns the artist ids found complete, so `commit` need not look them up again.
    private func enrichment(for entries: [ParsedEntry]) -> ([ArtistFact], Set<String>) {
        guard enrichArtists else { return ([], []) }
        var ids: [String] = []
        var noted = Set<String>()
        for e in entries {
            guard case .track(let t, _) = e else { continue }
            for a in t.artists where noted.insert(a.id).inserted { ids.append(a.id) }
            for a in t.album.artists where noted.insert(a.id).inserted { ids.append(a.id) }
        }
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
