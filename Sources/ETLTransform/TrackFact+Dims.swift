import ETLCore

extension TrackFact {
    /// `DimsFingerprint` of this track: its album id and the ids of its album's artists and
    /// its own artists — exactly the album and artist facts `SnapshotTransform` notes for it.
    /// Computed on the stack: no allocation per call.
    public var dimsFingerprint: UInt64 {
        let n = album.artists.count + artists.count
        return withUnsafeTemporaryAllocation(of: String.self, capacity: n) { buf in
            var i = 0
            for a in album.artists { (buf.baseAddress! + i).initialize(to: a.id); i += 1 }
            for a in artists { (buf.baseAddress! + i).initialize(to: a.id); i += 1 }
            defer { buf.baseAddress!.deinitialize(count: n) }
            return DimsFingerprint.of(albumID: album.id, sortingInPlace: UnsafeMutableBufferPointer(rebasing: buf[0..<n]))
        }
    }
}
