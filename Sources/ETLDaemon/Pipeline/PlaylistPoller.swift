import ETLCore
import ETLExtraction
import ETLHTTP
import ETLHealth
import ETLState
import ETLTransform
import FoundationEssentials
import Logging
import Synchronization

/// Polls one playlist end to end: snapshot and metadata → (if the snapshot changed) every item →
/// diff against stored membership → rows → ONE state transaction with the outbox rows. Which
/// requests that takes is `FetchPlan`'s: one for a playlist of at most 100 items, changed or
/// not; for a larger one, one when unchanged, else the snapshot, the playlist with its first
/// 100 items, the `/items` pages after them and a snapshot re-check.
///
/// A kill -9 at any instant leaves either everything of a snapshot committed or nothing, and
/// the next poll catches up, because the watermark only moves inside that same transaction.
///
/// Every finished poll leaves one `polls` row: a committed snapshot's is part of its commit;
/// any other outcome's is written with its watermark update in one transaction
/// (`StateStore.recordPoll(playlistID:_:row:)`).
public final class PlaylistPoller: Sendable {
    /// Source of API bodies. `SpotifyClient` in production; the benchmark replays recorded pages.
    public protocol Source: AnyObject, Sendable {
        /// `GET /playlists/{id}`: the metadata and the first page of items it embeds (a
        /// playlist the app may not read comes without one).
        func playlist(_ id: String) throws -> Data
        /// `GET /playlists/{id}?fields=snapshot_id`: a playlist object with at least `snapshot_id`.
        func playlistSnapshot(_ id: String) throws -> Data
        /// One `/items` page of `SpotifyClient.pageLimit` from `offset`.
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
    public typealias PauseCheck = @Sendable () -> (until: Date, reason: String)?
    private let pauseCheck = Guarded<PauseCheck?>(nil)
    /// Marked at every page read and every commit: the watchdog's evidence that a long scan
    /// is moving.
    public let progress: ProgressMark

    public init(source: Source, state: StateStore, clock: Clock = SystemClock(), logger: Logger,
                metrics: PipelineMetrics = PipelineMetrics(), enrichArtists: Bool = true,
                progress: ProgressMark = ProgressMark()) {
        self.progress = progress
        self.source = source
        self.state = state
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.enrichArtists = enrichArtists
    }

    /// Installs the pause check (once, before polling starts).
    public func setPauseCheck(_ check: @escaping PauseCheck) { pauseCheck.withLock { $0 = check } }

    /// What a poll learned on its way: the journal's playlist name and the facts of its
    /// `polls` row.
    struct PollFacts {
        let playlistID: String
        let startedAt: Date
        /// The playlist's name, set as soon as its metadata is decoded.
        var name: String?
        /// The `snapshot_id` of the metadata last read (the committed one after a commit).
        var snapshotID: String?
        /// The playlist's item count when known (`items.total`, else the stored count of the
        /// same snapshot, else the scanned entries).
        var items: Int?
        /// Web API calls made through `Source`: see `counted(_:_:)`.
        var requests = 0
    }

    public func poll(_ playlistID: String) -> PollOutcome {
        var log = logger
        log[metadataKey: "playlist_id"] = "\(playlistID)"
        let startedAt = clock.now()
        let outcome: PollOutcome
        var facts = PollFacts(playlistID: playlistID, startedAt: startedAt)
        do {
            outcome = try pollOrThrow(playlistID, log: log, facts: &facts)
        } catch let e as SpotifyError {
            outcome = Self.outcome(for: e)
        } catch let e as StateError {
            outcome = .failed(PollFailure(e))
        } catch let e as PollFailure {
            outcome = .failed(e)
        } catch {
            // Every throwing call below throws SpotifyError or StateError; anything else is
            // a state-layer bug surfacing, reported as such.
            outcome = .failed(.state(message: String(describing: error)))
        }
        metrics.polled(outcome)
        record(outcome, facts: facts, log: log)
        return outcome
    }

    /// One call to `source`, counted in `facts.requests`: one per call however many attempts
    /// the client made, none for a call refused before sending because the rate gate is shut.
    /// The token endpoint is not a `Source` call.
    private func counted<T>(_ facts: inout PollFacts, _ call: () throws -> T) throws -> T {
        do {
            let value = try call()
            facts.requests += 1
            return value
        } catch SpotifyError.deferred(let until, let reason, let cause) {
            if cause != .gateClosed { facts.requests += 1 }
            throw SpotifyError.deferred(until: until, reason: reason, cause: cause)
        } catch {
            facts.requests += 1
            throw error
        }
    }

    /// `polls.outcome` of a poll that committed no snapshot (a committed one's is decided by
    /// `committedOutcome`).
    static func pollsOutcome(_ outcome: PollOutcome) -> PollsOutcome {
        switch outcome {
        case .unchanged: return .unchanged
        case .changed: return .changed
        case .deferred: return .deferred
        case .unavailable(let status, _):
            switch status {
            case 403: return .forbidden
            case 404: return .notFound
            default: return .failed
            }
        case .failed: return .failed
        }
    }

    /// `polls.outcome` of a committed snapshot: `renamed` when the playlist had a committed
    /// snapshot before, the membership diff is empty and the name differs from the stored
    /// one; else `changed` (a first snapshot always).
    static func committedOutcome(previous: Watermark?, name: String, added: Int, removed: Int) -> PollsOutcome {
        guard let previous, previous.snapshotID != nil, let before = previous.name,
              added == 0, removed == 0, before != name else { return .changed }
        return .renamed
    }

    /// The `polls` row of a poll ending now with `outcome`.
    private func pollRow(_ facts: PollFacts, _ outcome: PollsOutcome) -> Row {
        let ms = clock.now().timeIntervalSince(facts.startedAt) * 1000
        return RowBuilder.pollRow(playlistID: facts.playlistID, polledAt: Timestamp.iso(facts.startedAt),
                                  snapshotID: facts.snapshotID, outcome: outcome, items: facts.items,
                                  requests: facts.requests, durationMs: ms > 0 ? Int(ms.rounded()) : 0)
    }

    static func outcome(for e: SpotifyError) -> PollOutcome {
        switch e {
        case .deferred(let until, let reason, let cause): return .deferred(until: until, reason: reason, cause: cause)
        case .playlistUnavailable(let status, let message): return .unavailable(status: status, message: message)
        default: return .failed(PollFailure(e))
        }
    }

    /// Records the outcome in the state with its `polls` row (one transaction; a committed
    /// snapshot's row is already in its commit) and logs it. A state that cannot be written
    /// keeps neither. The message names the playlist and its numbers itself (the default
    /// `journalctl` view shows MESSAGE only); the same facts stay journal fields (PLAYLIST_ID,
    /// PLAYLIST_NAME, ROWS, HTTP_STATUS, …) for queries.
    private func record(_ outcome: PollOutcome, facts: PollFacts, log: Logger) {
        var log = log
        let playlistID = facts.playlistID, name = facts.name, at = facts.startedAt
        if let name { log[metadataKey: "playlist_name"] = "\(name)" }
        let text = Self.message(outcome, playlistID: playlistID, name: name, at: at)
        func mark(_ mark: StateStore.PollMark) {
            try? state.recordPoll(playlistID: playlistID, mark, row: pollRow(facts, Self.pollsOutcome(outcome)))
        }
        switch outcome {
        case .unchanged:
            mark(.polled(at: at, error: nil, nextDueAt: nil))
            log.debug("\(text)")
        case .changed(let rows, let rejects, let added, let removed):
            log.info("\(text)", metadata: ["rows": "\(rows)", "rejects": "\(rejects)",
                                          "added": "\(added)", "removed": "\(removed)"])
        case .deferred(let until, let reason, _):
            // Not an error of the playlist: the watermark keeps its last error untouched.
            mark(.nextDue(until))
            log.notice("\(text)", metadata: ["until": "\(Timestamp.iso(until))", "reason": "\(reason)",
                                            "retry_after_s": "\(Int(max(0, until.timeIntervalSince(at))))"])
        case .unavailable(let status, let message):
            mark(.polled(at: at, error: "HTTP \(status): \(message)", nextDueAt: nil))
            log.warning("\(text)", metadata: ["http_status": "\(status)", "error_code": "playlist_unavailable"])
        case .failed(.authExpired):
            let message = PollFailure.authExpired.description
            mark(.polled(at: at, error: message, nextDueAt: nil))
            log.critical("\(text)", metadata: ["error_code": "refresh_token_expired"])
        case .failed(let failure):
            mark(.polled(at: at, error: failure.description, nextDueAt: nil))
            log.error("\(text)", metadata: ["error_code": "\(failure.code)"])
        }
    }

    /// The journal MESSAGE for a poll's outcome, self-contained:
    /// `snapshot committed: playlist 37i9dQZF1DXcBWIGoYBM5M "Today's Top Hits": +12 −3, 15 rows`
    /// (the snapshot's rows written to the outbox, not counting the poll's `polls` row, `1 row`
    /// when one; `, N rejected` when some entries were rejected),
    /// `unchanged: playlist <id> "<name>"`,
    /// `deferred: playlist <id>[ "<name>"] until <ISO 8601> (in 31s): <reason>`,
    /// `playlist unavailable: playlist <id>: HTTP 404: <message>`,
    /// `poll failed: playlist <id>[ "<name>"]: <failure>`.
    /// The name is user text: quoted, with control characters escaped (`LogText.quoted`).
    static func message(_ outcome: PollOutcome, playlistID: String, name: String?, at: Date) -> String {
        let playlist = "playlist " + LogText.escaped(playlistID) + (name.map { " " + LogText.quoted($0) } ?? "")
        switch outcome {
        case .unchanged:
            return "unchanged: \(playlist)"
        case .changed(let rows, let rejects, let added, let removed):
            return "snapshot committed: \(playlist): +\(LogText.count(added)) \u{2212}\(LogText.count(removed)), "
                + LogText.counted(rows, "row") + (rejects > 0 ? ", \(LogText.count(rejects)) rejected" : "")
        case .deferred(let until, let reason, _):
            return "deferred: \(playlist) until \(Timestamp.iso(until)) "
                + "(in \(StatusReport.human(max(0, until.timeIntervalSince(at))))): \(LogText.escaped(reason))"
        case .unavailable(let status, let message):
            return "playlist unavailable: \(playlist): HTTP \(status): \(LogText.escaped(message))"
        case .failed(let failure):
            return "poll failed: \(playlist): \(LogText.escaped(failure.description))"
        }
    }

    /// `facts` learns the metadata's name, snapshot and count as soon as they are decoded, and
    /// counts the requests. The requests are `FetchPlan`'s.
    private func pollOrThrow(_ playlistID: String, log: Logger, facts: inout PollFacts) throws -> PollOutcome {
        let watermark = try state.watermark(playlistID)
        let known = watermark?.snapshotID
        if FetchPlan.choose(knownSnapshot: known, knownItems: watermark?.itemCount) == .snapshotFirst, let watermark {
            let snapshot = try decodeSnapshot(counted(&facts) { try source.playlistSnapshot(playlistID) })
            facts.snapshotID = snapshot
            if snapshot == known {
                // The stored name and count are this snapshot's: a rename or an edit moves it.
                facts.name = watermark.name
                facts.items = watermark.itemCount
                return .unchanged
            }
        }
        // snapshot_id is a hint, not proof: a rename changes it too. Reading every item decides.
        for attempt in 1...Self.maxScanRestarts {
            var meta = try decodeMeta(counted(&facts) { try source.playlist(playlistID) }, playlistID: playlistID)
            facts.learn(meta)
            if let watermark, watermark.snapshotID == meta.snapshotID {
                if facts.items == nil { facts.items = watermark.itemCount }
                return .unchanged
            }
            let first = meta.embeddedItems
            meta.embeddedItems = nil
            var entries = first?.entries ?? []
            switch FetchPlan.continuation(embeddedOffset: first?.offset, count: entries.count, next: first?.next) {
            case .complete:
                // One answer, one snapshot: nothing to re-check.
                progress.mark()
                return try commit(meta: meta, entries: entries, previous: watermark, facts: &facts)
            case .itemsFrom(let offset):
                progress.mark()
                try pauseIfAsked()
                try scan(playlistID, from: offset, into: &entries, facts: &facts)
            case .itemsFromStart:
                try scan(playlistID, from: 0, into: &entries, facts: &facts)
            }
            // The pages were separate answers: they make one snapshot only if it did not move.
            let check = try decodeSnapshot(counted(&facts) { try source.playlistSnapshot(playlistID) })
            if check == meta.snapshotID {
                return try commit(meta: meta, entries: entries, previous: watermark, facts: &facts)
            }
            log.info("snapshot changed during scan \(attempt) of \(Self.maxScanRestarts): playlist \(LogText.escaped(playlistID))",
                     metadata: ["attempt": "\(attempt)"])
            facts.snapshotID = check
        }
        return .failed(.snapshotUnsettled(scans: Self.maxScanRestarts))
    }

    /// The metadata, its numbers range-checked: an `id` other than the one asked for, a `total`
    /// no playlist has, or an embedded first page that does not answer "offset 0, at most 100",
    /// makes the whole answer malformed.
    private func decodeMeta(_ data: Data, playlistID: String) throws -> PlaylistMeta {
        let meta: PlaylistMeta
        do { meta = try decodePlaylistMeta(data) } catch { throw SpotifyError.malformed(error.description) }
        // The id keys the state and every row: an answer about another playlist is not this one's.
        guard meta.id == playlistID else { throw SpotifyError.malformed("/playlists/{id} answered for another playlist id") }
        if let total = meta.total, !(0...ItemsPageAgreement.maxTotal).contains(total) {
            throw SpotifyError.malformed("/playlists/{id} total \(total), expected 0...\(LogText.count(ItemsPageAgreement.maxTotal))")
        }
        if let first = meta.embeddedItems, let d = ItemsPageAgreement.check(
            first, against: ItemsPageRequest(playlistID: playlistID, offset: 0, limit: FetchPlan.embeddedLimit)) {
            throw SpotifyError.malformed("first page embedded in /playlists/{id} disagrees with the request: \(d)")
        }
        return meta
    }

    /// The `snapshot_id` of a snapshot-only answer.
    private func decodeSnapshot(_ data: Data) throws -> String {
        do { return try decodeSnapshotID(data) } catch { throw SpotifyError.malformed(error.description) }
    }

    /// Throws the deferral the pause check asks for, if any.
    private func pauseIfAsked() throws {
        if let pause = pauseCheck.withLock({ $0 })?() {
            throw SpotifyError.deferred(until: pause.until, reason: pause.reason, cause: .storage)
        }
    }

    /// Appends every `/items` page from `offset` to `entries` (the ones before `offset`),
    /// following `next`. Restarts (by throwing a marker) are not needed here: a `total` that
    /// moves between pages means the playlist changed under us, and the caller's snapshot
    /// re-check catches that too.
    /// Every page must agree with the request that fetched it (`ItemsPageAgreement`), so
    /// `next` only ever moves forward through this playlist and `total` is bounded.
    private func scan(_ playlistID: String, from offset: Int, into entries: inout [ParsedEntry],
                      facts: inout PollFacts) throws {
        var request = ItemsPageRequest(playlistID: playlistID, offset: offset, limit: SpotifyClient.pageLimit)
        var page = try decodePage(counted(&facts) { try source.itemsPage(playlistID, offset: offset) }, request: request)
        progress.mark()
        entries.reserveCapacity(min(page.total, ItemsPageAgreement.reserveLimit))
        var pages = 0
        while true {
            entries.append(contentsOf: page.entries)
            pages += 1
            guard let next = page.next, !page.entries.isEmpty, pages < 100_000 else { break }
            try pauseIfAsked()
            request = ItemsPageAgreement.request(after: page, request)
            page = try decodePage(counted(&facts) { try source.itemsPage(url: next) }, request: request)
            progress.mark()
        }
    }

    private func decodePage(_ data: Data, request: ItemsPageRequest) throws -> ParsedItemsPage {
        let page: ParsedItemsPage
        do { page = try decodeParsedItemsPage(data) } catch { throw SpotifyError.malformed(error.description) }
        if let d = ItemsPageAgreement.check(page, against: request) {
            throw SpotifyError.malformed("/items page disagrees with the request: \(d)")
        }
        return page
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
        /// Per entry: the track's `dimsFingerprint` (0 for other entries), computed once here
        /// and handed to `SnapshotTransform` for the members.
        var fingerprints: [UInt64] = []
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
        memberDims.reserveCapacity(previous.count)
        for m in previous { if let t = m.trackID, let d = m.dims { memberDims[t] = d } }
        var trackIDs: [String] = []
        trackIDs.reserveCapacity(entries.count)
        // One fingerprint per entry (0 for non-tracks), computed once for both passes below.
        let fingerprints: [UInt64] = entries.map { e in
            if case .track(let t, _) = e { return t.dimsFingerprint } else { return 0 }
        }
        c.fingerprints = fingerprints
        for (i, e) in entries.enumerated() {
            guard case .track(let t, _) = e else { continue }
            if let d = memberDims[t.id], d == fingerprints[i] {
                c.tracks[t.id] = SeenRecord(.complete, dims: d)
            } else {
                trackIDs.append(t.id)
            }
        }
        c.tracks.reserveCapacity(entries.count)
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

    /// `watermark` is the stored one the poll began with (nil on first sight).
    private func commit(meta: PlaylistMeta, entries: [ParsedEntry], previous watermark: Watermark?,
                        facts: inout PollFacts) throws -> PollOutcome {
        let startedAt = facts.startedAt
        let observedAt = Timestamp.iso(startedAt)
        let previous = try state.members(meta.id)
        let coverage = try trackCoverage(for: entries, previous: previous)
        let (extraArtists, completeArtists) = enrichment(for: coverage.openArtistOrder, facts: &facts)
        let result = SnapshotTransform.apply(meta: meta, entries: entries, previous: previous,
                                             extraArtists: extraArtists, knownDimensions: coverage.coveredEntries,
                                             trackDims: coverage.fingerprints, observedAt: observedAt)
        var rows: [Row] = [RowBuilder.playlistRow(meta, observedAt: observedAt)]
        rows.append(contentsOf: result.eventRows)
        let itemCount = meta.total ?? entries.count
        facts.items = itemCount
        let pollsOutcome = Self.committedOutcome(previous: watermark, name: meta.name, added: result.added.count,
                                                 removed: result.removed.count)
        let pollFacts = facts
        return try commitLock.withLock { () throws -> PollOutcome in
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
            // The poll's own row goes last, in the same transaction; it is not counted in `rows`.
            let snapshotRows = rows.count
            rows.append(pollRow(pollFacts, pollsOutcome))
            try state.commit(SnapshotCommit(playlistID: meta.id, snapshotID: meta.snapshotID, name: meta.name,
                                            itemCount: itemCount, maxAddedAt: result.maxAddedAt, changedAt: startedAt,
                                            polledAt: startedAt, members: result.members, seen: seen,
                                            rejectHashes: rejectHashes, rows: rows, nextDueAt: nil, dims: dims))
            progress.mark()
            metrics.extracted(rows: snapshotRows - rejectCount, rejected: rejectCount)
            return .changed(rows: snapshotRows, rejects: rejectCount, added: result.added.count, removed: result.removed.count)
        }
    }

    /// Full artist objects for the open artist ids (see `TrackCoverage`) not yet complete in
    /// the state. Failures leave the fields null (the row is marked incomplete) and
    /// `EnrichmentSweep` retries later. Also returns the ids found complete, so `commit` need
    /// not look them up again. Artists of covered tracks are neither looked up nor fetched:
    /// they are seen, and if incomplete, `EnrichmentSweep` completes them.
    private func enrichment(for ids: [String], facts: inout PollFacts) -> ([ArtistFact], Set<String>) {
        guard enrichArtists else { return ([], []) }
        guard !ids.isEmpty, let states = try? state.seenStates(kind: .artist, ids: ids) else { return ([], []) }
        var complete = Set<String>()
        complete.reserveCapacity(ids.count)
        var wanted: [String] = []
        for id in ids {
            if states[id] == .complete { complete.insert(id) } else { wanted.append(id) }
        }
        guard !wanted.isEmpty else { return ([], complete) }
        guard let fetched = try? counted(&facts, { try source.artists(wanted) }) else { return ([], complete) }
        return (wanted.compactMap { id in fetched[id].flatMap { $0 }.flatMap { try? decodeArtist($0) } }, complete)
    }
}

extension PlaylistPoller.PollFacts {
    /// Takes the name, snapshot and count of freshly decoded metadata.
    mutating func learn(_ meta: PlaylistMeta) {
        name = meta.name
        snapshotID = meta.snapshotID
        items = meta.total
    }
}
