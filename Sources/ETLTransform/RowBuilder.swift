import ETLCore

/// `playlist_items.event`.
public enum ItemEvent: String, Sendable, Equatable, CaseIterable {
    case added, removed
}

/// `polls.outcome`: what one finished poll of one playlist found.
public enum PollsOutcome: String, Sendable, Equatable, CaseIterable {
    /// Same `snapshot_id` as the one stored: nothing else was read.
    case unchanged
    /// A new snapshot was committed (a playlist's first committed snapshot included).
    case changed
    /// A new snapshot was committed whose membership is the stored one and whose name differs.
    case renamed
    /// HTTP 403 for the playlist.
    case forbidden
    /// HTTP 404 for the playlist.
    case notFound = "not_found"
    /// Nothing was committed: any other failure (other HTTP statuses, transport, auth, a body
    /// that cannot be decoded, a snapshot that kept moving, the state database).
    case failed
    /// Nothing was committed; the poll waits for a rate limit, a quota park, a shut rate gate
    /// or state storage.
    case deferred
}

/// Row builders: the only place that knows each table's column order (`Table.columns`).
/// Every function takes `observedAt` (contract timestamp form) explicitly: the transform is
/// pure and never reads a clock.
public enum RowBuilder {
    public static func playlistRow(_ meta: PlaylistMeta, observedAt: String) -> Row {
        Row(table: .playlists, values: [
            .string(meta.id), .string(meta.snapshotID), .string(meta.name), .optional(meta.description),
            .optional(meta.ownerID), .optional(meta.ownerName), .optional(meta.isPublic),
            .optional(meta.collaborative), .optional(meta.followers), .optional(meta.total), .string(observedAt),
        ])
    }

    public static func itemEventRow(playlistID: String, snapshotID: String, event: ItemEvent, member m: Member,
                                    observedAt: String) -> Row {
        Row(table: .playlistItems, values: [
            .string(playlistID), .string(snapshotID), .string(event.rawValue), .string(m.itemKey),
            .string(m.itemType.rawValue), .optional(m.trackID), .optional(m.episodeID), .int(Int64(m.position)),
            .optional(m.addedAt), .optional(m.addedBy), .string(observedAt),
        ])
    }

    public static func trackRow(_ t: TrackFact, observedAt: String) -> Row {
        Row(table: .tracks, values: [
            .string(t.id), .string(t.name), .int(Int64(t.durationMs)), .bool(t.explicit), .int(Int64(t.discNumber)),
            .int(Int64(t.trackNumber)), .optional(t.isrc), .optional(t.popularity), .string(t.album.id),
            .strings(t.artists.map(\.id)), .string(t.uri), .string(observedAt),
        ])
    }

    public static func albumRow(_ a: AlbumFact, observedAt: String) -> Row {
        Row(table: .albums, values: [
            .string(a.id), .string(a.name), .string(a.albumType), .string(a.releaseDate),
            .string(a.releaseDatePrecision), .int(Int64(a.releaseYear)), .int(Int64(a.totalTracks)),
            .strings(a.artists.map(\.id)), .string(observedAt),
        ])
    }

    public static func artistRow(_ a: ArtistFact, observedAt: String) -> Row {
        Row(table: .artists, values: [
            .string(a.id), .string(a.name), .optional(a.genres), .optional(a.followers), .optional(a.popularity),
            .string(observedAt),
        ])
    }

    public static func episodeRow(_ e: EpisodeFact, observedAt: String) -> Row {
        Row(table: .episodes, values: [
            .string(e.id), .string(e.name), .int(Int64(e.durationMs)), .bool(e.explicit), .string(e.showID),
            .string(e.showName), .optional(e.releaseDate), .string(observedAt),
        ])
    }

    public static func rejectRow(sourceTable: Table, reason: String, playlistID: String, position: Int?, raw: String,
                                 observedAt: String) -> Row {
        Row(table: .rejects, values: [
            .string(sourceTable.rawValue), .string(reason), .string(playlistID), .optional(position), .string(raw),
            .string(observedAt),
        ])
    }

    /// `polls`: one finished poll. `polledAt` is when the poll started (contract form, the
    /// `observed_at` of every row the poll commits).
    public static func pollRow(playlistID: String, polledAt: String, snapshotID: String?, outcome: PollsOutcome,
                               items: Int?, requests: Int, durationMs: Int) -> Row {
        Row(table: .polls, values: [
            .string(playlistID), .string(polledAt), .optional(snapshotID), .string(outcome.rawValue), .optional(items),
            .int(Int64(requests)), .int(Int64(durationMs)),
        ])
    }
}

/// Stable identifier of a reject's raw text, for de-duplicating the same offending entry
/// across polls. SHA-256 would need swift-crypto, which this pure module does not link; a
/// 64-bit FNV-1a over the UTF-8 bytes plus the byte length is stable across runs, platforms
/// and Swift versions (unlike `Hasher`, which is seeded per process), and collisions only
/// risk suppressing a duplicate reject row, never losing item data.
/// Form: `fnv1a64:<16 lowercase hex>:<byte length>`.
public enum RejectHash {
    public static func of(_ raw: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var n = 0
        for b in raw.utf8 { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01B3; n += 1 }
        let hex = String(h, radix: 16)
        return "fnv1a64:\(String(repeating: "0", count: 16 - hex.count))\(hex):\(n)"
    }
}
