import ETLCore

extension ParsedEntry {
    /// UTF-8 bytes of every string of this entry that becomes a row value: ids, names, uris,
    /// the ISRC, album and artist ids and names, album type, dates and precisions, show id and
    /// name, `added_at`, `added_by`. 0 for a reject (its `raw` is bounded by `RejectRaw`).
    public var keptTextBytes: Int {
        func artists(_ list: [ArtistFact]) -> Int { list.reduce(0) { $0 + $1.id.utf8.count + $1.name.utf8.count } }
        func context(_ c: EntryContext) -> Int { (c.addedAt?.utf8.count ?? 0) + (c.addedBy?.utf8.count ?? 0) }
        switch self {
        case .track(let t, let c):
            let a = t.album
            return t.id.utf8.count + t.name.utf8.count + (t.isrc?.utf8.count ?? 0) + t.uri.utf8.count
                + a.id.utf8.count + a.name.utf8.count + a.albumType.utf8.count + a.releaseDate.utf8.count
                + a.releaseDatePrecision.utf8.count + artists(a.artists) + artists(t.artists) + context(c)
        case .episode(let e, let c):
            return e.id.utf8.count + e.name.utf8.count + e.showID.utf8.count + e.showName.utf8.count
                + (e.releaseDate?.utf8.count ?? 0) + context(c)
        case .local(let l, let c):
            return l.uri.utf8.count + l.name.utf8.count + context(c)
        case .reject:
            return 0
        }
    }

    /// The longest artist list of this entry (a track's own, or its album's); 0 for others.
    public var largestArtistList: Int {
        if case .track(let t, _) = self { return max(t.artists.count, t.album.artists.count) }
        return 0
    }

    /// True when the entry would make the daemon keep more than `AnswerLimits` allows: more
    /// than `entryTextBytes` of text, or more than `artistsPerList` artists in one list. Such
    /// an entry becomes a `RejectReason.entryTooLarge` reject instead. Both item decoders
    /// (`parseEntry`, and the direct one in `FastItemsPage.swift`, which hands such an entry
    /// to `parseEntry`) ask this one question, after building the entry.
    public var isOverAnswerLimits: Bool {
        largestArtistList > AnswerLimits.artistsPerList || keptTextBytes > AnswerLimits.entryTextBytes
    }
}
