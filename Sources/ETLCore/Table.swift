/// The warehouse tables of the data contract (`docs/data-contract.md`).
///
/// The column lists are the contract: encoders write them in this order, and every row
/// additionally carries `batch_id` as its last column, assigned when its batch is sealed.
/// A new table is appended: `allCases` is the order in which a commit's outbox entries and a
/// flush's batches are written, so appending leaves every other table's batches as they were.
/// A contract change is additive columns at the end of a list, or a new table (see
/// `docs/data-contract.md`, "Changing the contract").
public enum Table: String, CaseIterable, Sendable, Codable {
    case playlists
    case playlistItems = "playlist_items"
    case tracks
    case albums
    case artists
    case episodes
    case rejects
    case polls

    /// Hashes the case, not its name (a String-backed enum hashes its raw value by default):
    /// rows are grouped by table in dictionaries on the commit path, once per row. A case
    /// without payload is stored as its declaration index in one byte (Swift's enum layout).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(withUnsafeBytes(of: self) { $0[0] })
    }

    /// Contract columns, without `batch_id`.
    public var columns: [String] {
        switch self {
        case .playlists:
            return ["playlist_id", "snapshot_id", "name", "description", "owner_id", "owner_name", "public",
                    "collaborative", "followers", "item_count", "observed_at"]
        case .playlistItems:
            return ["playlist_id", "snapshot_id", "event", "item_key", "item_type", "track_id", "episode_id",
                    "position", "added_at", "added_by", "observed_at"]
        case .tracks:
            return ["track_id", "name", "duration_ms", "explicit", "disc_number", "track_number", "isrc",
                    "popularity", "album_id", "artist_ids", "uri", "observed_at"]
        case .albums:
            return ["album_id", "name", "album_type", "release_date", "release_date_precision", "release_year",
                    "total_tracks", "artist_ids", "observed_at"]
        case .artists:
            return ["artist_id", "name", "genres", "followers", "popularity", "observed_at"]
        case .episodes:
            return ["episode_id", "name", "duration_ms", "explicit", "show_id", "show_name", "release_date",
                    "observed_at"]
        case .rejects:
            return ["source_table", "reason", "playlist_id", "position", "raw", "observed_at"]
        case .polls:
            return ["playlist_id", "polled_at", "snapshot_id", "outcome", "items", "requests", "duration_ms"]
        }
    }

    /// Columns as written to files: the contract columns then `batch_id`.
    public var outputColumns: [String] { columns + ["batch_id"] }
}
