import ETLCore

extension TrackFact {
    /// `DimsFingerprint` of this track: its album id and the ids of its album's artists and
    /// its own artists — exactly the album and artist facts `SnapshotTransform` notes for it.
    public var dimsFingerprint: UInt64 {
        var ids: [String] = []
        ids.reserveCapacity(album.artists.count + artists.count)
        for a in album.artists { ids.append(a.id) }
        for a in artists { ids.append(a.id) }
        return DimsFingerprint.of(albumID: album.id, artistIDs: ids)
    }
}
