import ETLCore

/// Identity of a dimension fact: which table, which id.
public struct DimensionKey: Sendable, Hashable, Comparable {
    public var kind: DimensionKind
    public var id: String
    public init(kind: DimensionKind, id: String) { self.kind = kind; self.id = id }
    public static func < (l: DimensionKey, r: DimensionKey) -> Bool {
        l.kind.rawValue != r.kind.rawValue ? l.kind.rawValue < r.kind.rawValue : l.id < r.id
    }
}

/// A dimension fact found in a snapshot. The pipeline checks `key` against the state's seen
/// set and calls `row(observedAt:)` only for the ones it needs to write.
public enum DimensionFact: Sendable, Equatable {
    case track(TrackFact)
    case album(AlbumFact)
    case artist(ArtistFact)
    case episode(EpisodeFact)

    public var key: DimensionKey {
        switch self {
        case .track(let t): return DimensionKey(kind: .track, id: t.id)
        case .album(let a): return DimensionKey(kind: .album, id: a.id)
        case .artist(let a): return DimensionKey(kind: .artist, id: a.id)
        case .episode(let e): return DimensionKey(kind: .episode, id: e.id)
        }
    }

    /// False only for artists known from simplified objects (no genres yet): the state DB
    /// records those as `incomplete` so a later enrichment can write the full row.
    public var isComplete: Bool {
        if case .artist(let a) = self { return a.isComplete }
        return true
    }

    public func row(observedAt: String) -> Row {
        switch self {
        case .track(let t): return RowBuilder.trackRow(t, observedAt: observedAt)
        case .album(let a): return RowBuilder.albumRow(a, observedAt: observedAt)
        case .artist(let a): return RowBuilder.artistRow(a, observedAt: observedAt)
        case .episode(let e): return RowBuilder.episodeRow(e, observedAt: observedAt)
        }
    }
}

/// A reject ready for the outbox, with the hash the state may use to avoid re-writing the
/// same offending entry on every poll.
public struct RejectRecord: Sendable, Equatable {
    public var reason: String
    public var position: Int?
    public var raw: String
    public var hash: String
    public var row: Row
}

/// Everything one changed snapshot of a playlist yields.
public struct SnapshotResult: Sendable, Equatable {
    /// The new membership to store in the state DB (snapshot order).
    public var members: [Member]
    public var added: [Member]
    public var removed: [Member]
    /// `playlist_items` rows: added events (by new position) then removed (by old position).
    public var eventRows: [Row]
    /// Dimension facts, deduplicated by key, in first-seen order (deterministic).
    public var dimensions: [DimensionFact]
    public var rejects: [RejectRecord]
    /// Latest `added_at` among current members (contract form), nil when none has one.
    public var maxAddedAt: String?

    public var dimensionsByKey: [DimensionKey: DimensionFact] {
        Dictionary(dimensions.map { ($0.key, $0) }, uniquingKeysWith: { _, b in b })
    }
}

/// Pure transform of one snapshot: members, diff events, dimension facts, rejects.
public enum SnapshotTransform {
    /// - Parameters:
    ///   - entries: every entry of the snapshot, parsed at its absolute position.
    ///   - previous: the membership stored for the previous snapshot ([] on first sight).
    ///   - extraArtists: full artist facts (from `/artists` enrichment); merged over the
    ///     simplified ones so their genres/followers/popularity win.
    ///   - knownDimensions: per entry index, true when the caller already knows that entry's
    ///     track, album and artists are recorded seen and complete as far as it will write
    ///     them (a covered track, see `PlaylistPoller`): their facts are not collected. Empty
    ///     (the default) collects every entry's facts.
    ///   - trackDims: per entry index, the `dimsFingerprint` of a track entry when the caller
    ///     has computed it already (a sort and a hash per track); empty (the default) computes
    ///     them here.
    public static func apply(meta: PlaylistMeta, entries: [ParsedEntry], previous: [Member],
                             extraArtists: [ArtistFact] = [], knownDimensions: [Bool] = [],
                             trackDims: [UInt64] = [], observedAt: String) -> SnapshotResult {
        var members: [Member] = []
        members.reserveCapacity(entries.count)
        // Facts in first-seen order, and where each key's fact is: one hash lookup per note
        // (find or insert), none to assemble the result.
        var facts: [DimensionFact] = []
        var slots: [DimensionKey: Int] = [:]
        slots.reserveCapacity(entries.count)
        var rejects: [RejectRecord] = []

        func note(_ f: DimensionFact) {
            let next = facts.count
            var existing = -1
            func claim(_ slot: inout Int) { if slot < 0 { slot = next } else { existing = slot } }
            claim(&slots[f.key, default: -1])
            guard existing >= 0 else { facts.append(f); return }
            if case .artist(let old) = facts[existing], case .artist(let new) = f { facts[existing] = .artist(old.merged(with: new)) }
        }
        func noteTrack(_ t: TrackFact) {
            note(.track(t))
            note(.album(t.album))
            for a in t.artists { note(.artist(a)) }
            for a in t.album.artists { note(.artist(a)) }
        }

        for (i, e) in entries.enumerated() {
            switch e {
            case .track(let t, _): if i >= knownDimensions.count || !knownDimensions[i] { noteTrack(t) }
            case .episode(let ep, _): note(.episode(ep))
            case .local: break
            case .reject(let reason, let raw, let position):
                let row = RowBuilder.rejectRow(sourceTable: .playlistItems, reason: reason, playlistID: meta.id,
                                               position: position, raw: raw, observedAt: observedAt)
                rejects.append(RejectRecord(reason: reason, position: position, raw: raw, hash: RejectHash.of(raw), row: row))
            }
            if let m = member(from: e, dims: i < trackDims.count ? trackDims[i] : nil) { members.append(m) }
        }
        for a in extraArtists { note(.artist(a)) }

        let (added, removed) = diff(previous: previous, current: members)
        var rows: [Row] = []
        rows.reserveCapacity(added.count + removed.count)
        for m in added {
            rows.append(RowBuilder.itemEventRow(playlistID: meta.id, snapshotID: meta.snapshotID, event: .added,
                                                member: m, observedAt: observedAt))
        }
        for m in removed {
            rows.append(RowBuilder.itemEventRow(playlistID: meta.id, snapshotID: meta.snapshotID, event: .removed,
                                                member: m, observedAt: observedAt))
        }
        let maxAddedAt = members.compactMap(\.addedAt).max()
        return SnapshotResult(members: members, added: added, removed: removed, eventRows: rows,
                              dimensions: facts, rejects: rejects, maxAddedAt: maxAddedAt)
    }
}
