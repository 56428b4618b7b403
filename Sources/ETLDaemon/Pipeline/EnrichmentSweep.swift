import ETLCore
import ETLExtraction
import ETLState
import ETLTransform
import FoundationEssentials
import Logging

/// Retries artist enrichment that failed earlier. An artist first seen while `/artists` was
/// unavailable (429, 5xx, a quota park) was written without genres/followers/popularity and
/// marked incomplete; this fetches those ids again — at most `limit` per sweep, through the
/// shared rate gate — and writes the completed rows (the warehouse keeps the latest by
/// `observed_at`). Unchanged playlists cost nothing extra: nothing is fetched when no artist
/// is incomplete.
public final class EnrichmentSweep: Sendable {
    private let source: PlaylistPoller.Source
    private let state: StateStore
    private let clock: Clock
    private let logger: Logger
    private let limit: Int

    public init(source: PlaylistPoller.Source, state: StateStore, clock: Clock = SystemClock(), logger: Logger, limit: Int = 500) {
        self.source = source
        self.state = state
        self.clock = clock
        self.logger = logger
        self.limit = limit
    }

    /// Where the next sweep continues (kv key): the last id of a full sweep. Without it, `limit`
    /// ids that never complete (e.g. artists `/artists` answers with null) would be retried at
    /// every sweep while every id after them waited forever — and the poller leaves incomplete
    /// artists of tracks it already knows (matching `DimsFingerprint`) to this sweep alone.
    static let cursorKey = "enrichment_sweep_after"

    /// Returns how many artists were completed.
    @discardableResult
    public func run() -> Int {
        let after = try? state.get(Self.cursorKey)
        guard var ids = try? state.incompleteIDs(kind: .artist, after: after, limit: limit) else { return 0 }
        if ids.isEmpty, after != nil {
            // Past the last incomplete id: start over.
            guard let fromStart = try? state.incompleteIDs(kind: .artist, limit: limit) else { return 0 }
            ids = fromStart
        }
        guard !ids.isEmpty else { return 0 }
        let fetched: [String: Data?]
        do {
            fetched = try source.artists(ids)
        } catch {
            logger.info("artist enrichment postponed: \(error)", metadata: ["error_code": "enrichment_deferred"])
            return 0
        }
        // The next sweep goes on after these ids, or from the start when these were the last.
        try? state.set(Self.cursorKey, ids.count == limit ? ids.last : nil)
        let observedAt = Timestamp.iso(clock.now())
        var rows: [Row] = []
        var seen: [SeenMark] = []
        for id in ids {
            guard let data = fetched[id] ?? nil, let fact = try? decodeArtist(data), fact.isComplete else { continue }
            rows.append(RowBuilder.artistRow(fact, observedAt: observedAt))
            seen.append(SeenMark(.artist, id, complete: true))
        }
        guard !rows.isEmpty else { return 0 }
        do {
            try state.commitDimensions(seen: seen, rows: rows)
            logger.info("completed artist enrichment", metadata: ["artists": "\(rows.count)"])
            return rows.count
        } catch {
            logger.error("could not record artist enrichment: \(error)", metadata: ["error_code": "state"])
            return 0
        }
    }
}
