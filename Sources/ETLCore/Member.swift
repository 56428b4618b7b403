/// One occurrence of an item in a playlist snapshot. The state DB keeps the current
/// membership of each playlist as these, so the next changed snapshot can be diffed and a
/// `removed` event can carry the item's last known position, type and ids.
public struct Member: Sendable, Equatable, Hashable {
    /// Track id, episode id, or the `spotify:local:` URI for local files.
    public var itemKey: String
    public var itemType: ItemType
    public var trackID: String?
    public var episodeID: String?
    /// 0-based position within the snapshot where it was observed.
    public var position: Int
    /// Contract timestamp form (`...Z`), or nil when the API gave none.
    public var addedAt: String?
    public var addedBy: String?
    /// For a track: the `DimsFingerprint` of its album and artist ids as this snapshot had
    /// them. Every one of those ids was recorded seen by the commit that stored this member,
    /// so a later snapshot whose entry has the same fingerprint needs no lookup for them.
    /// nil for episodes, local files and memberships stored before fingerprints.
    public var dims: UInt64?

    public init(itemKey: String, itemType: ItemType, trackID: String?, episodeID: String?, position: Int,
                addedAt: String?, addedBy: String?, dims: UInt64? = nil) {
        self.itemKey = itemKey
        self.itemType = itemType
        self.trackID = trackID
        self.episodeID = episodeID
        self.position = position
        self.addedAt = addedAt
        self.addedBy = addedBy
        self.dims = dims
    }
}

public enum ItemType: String, Sendable, Equatable, Hashable, CaseIterable {
    case track, episode, local
}

/// The dimension tables whose ids the state DB remembers as "already seen".
public enum DimensionKind: String, Sendable, Equatable, Hashable, CaseIterable {
    case track, album, artist, episode

    public var table: Table {
        switch self {
        case .track: return .tracks
        case .album: return .albums
        case .artist: return .artists
        case .episode: return .episodes
        }
    }
}

/// What the state DB knows of a dimension id. `incomplete` means a row was written with some
/// fields missing (e.g. artist genres before enrichment succeeded); a later poll may fill them
/// and write the row again.
public enum SeenState: Sendable, Equatable {
    case unseen, incomplete, complete
}
