import ETLTransform

/// Which requests a poll makes, decided from what the state knows of the playlist and from the
/// first page that `GET /playlists/{id}` embeds. Pure: no I/O, no clock.
///
/// The physical minimum per poll:
/// - a playlist of at most `embeddedLimit` items: one request, changed or not —
///   `/playlists/{id}` with the metadata and the embedded page under one `fields` filter. One
///   answer is one consistent snapshot, so nothing is re-checked;
/// - a larger one: one snapshot-only request when unchanged; when changed (or new, which skips
///   the snapshot-only request), that request, then `/playlists/{id}` with the embedded first
///   `embeddedLimit` items, then `/items` pages of `SpotifyClient.pageLimit` from where the
///   embedded page ends, then one snapshot re-check (the pages are separate answers: the
///   re-check tells whether the playlist moved while they were read).
public enum FetchPlan: Equatable, Sendable {
    /// `/playlists/{id}` with metadata and embedded first page at once (it also tells whether
    /// the snapshot changed).
    case embeddedFirst
    /// `/playlists/{id}?fields=snapshot_id` first; `embeddedFirst` only when it moved.
    case snapshotFirst

    /// The most items `/playlists/{id}` embeds (its page's `limit`).
    public static let embeddedLimit = ItemsPageAgreement.maxLimit

    /// The plan for a playlist whose last committed snapshot and item count are these (nil:
    /// never committed). A playlist not known to be larger than the embedded page takes the
    /// one-request path: a first load, and one whose size was never stored.
    public static func choose(knownSnapshot: String?, knownItems: Int?) -> FetchPlan {
        guard knownSnapshot != nil, let items = knownItems, items > embeddedLimit else { return .embeddedFirst }
        return .snapshotFirst
    }

    /// What follows the `/playlists/{id}` answer once its snapshot is known to be new.
    public enum Continuation: Equatable, Sendable {
        /// The embedded page holds every item: commit it; no further request.
        case complete
        /// Read `/items` from `offset` (where the embedded page ends), then re-check the snapshot.
        case itemsFrom(offset: Int)
        /// No embedded page (a playlist the app may list but not read, or an API that does not
        /// embed one): read `/items` from offset 0, then re-check the snapshot.
        case itemsFromStart
    }

    /// The continuation for an embedded page (nil: none in the answer). The page has agreed
    /// with its request (`ItemsPageAgreement`: offset 0, `next` present exactly when items
    /// remain), so `next` alone says whether the playlist outgrew it.
    public static func continuation(embeddedOffset offset: Int?, count: Int, next: String?) -> Continuation {
        guard let offset else { return .itemsFromStart }
        guard next != nil else { return .complete }
        return .itemsFrom(offset: offset + count)
    }
}
