import ETLExtraction

/// Deterministic Spotify-shaped API bodies for the pipeline benchmark.
///
/// Why generated rather than stored: 100k entries are tens of MB of JSON even filtered;
/// holding them in memory would swamp the RSS figure, and a fixture that large does not belong
/// in the repository. The `/items` pages are what the daemon receives: the response to its
/// request with `fields=ItemFields.items`, i.e. what `scripts/emulator/spotify_emulator.py`'s
/// `apply_fields` makes of a `generated`-scenario page (only the filter's keys, in the
/// filter's order, `json.dumps` spacing `", "`/`": "`, same mix: 2% episodes, 1% null items,
/// 1% local files, the rest tracks), only the ids come from a counter so the benchmark
/// controls which ids are already seen. `scripts/emulator/test_bench_pages.py` compares the
/// shapes with the emulator's (`--dump-page`, `--dump-fields`).
///
/// Ids are 22-character base62 strings: one kind letter + the index in 21 base62 digits.
/// Track `t` belongs to album `t / 10`; album `a` to artist `a / 2`; every third track has a
/// featured artist from the seeded range. Tracks below `seenTracks` are the pre-seeded ones.
struct PageGenerator {
    let playlists: Int
    let itemsPerPlaylist: Int
    let seenTracks: Int
    /// Percent of track entries that are not yet seen (new ids beyond the seeded range).
    let newPercent: Int
    let seed: UInt64
    /// 0 = the playlists as first seen; 1 = a later snapshot in which `newPercent` of the
    /// entries were replaced by not-yet-seen tracks (the daemon's steady state: a re-poll
    /// where most of the playlist is unchanged).
    var version = 0
    static let pageLimit = 50
    /// Items the playlist object embeds.
    static let embeddedLimit = 100
    static let episodePool = 500

    var seenAlbums: Int { max(1, seenTracks / 10) }
    var seenArtists: Int { max(1, seenAlbums / 2) }

    // MARK: ids

    private static let digits = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    static func id(_ kind: Character, _ n: Int) -> String {
        var out = [UInt8](repeating: UInt8(ascii: "0"), count: 22)
        out[0] = UInt8(ascii: kind.unicodeScalars.first!)
        var v = n
        var i = 21
        while v > 0 && i > 0 { out[i] = digits[v % 62]; v /= 62; i -= 1 }
        return String(decoding: out, as: UTF8.self)
    }

    func playlistID(_ p: Int) -> String { Self.id("P", p) }
    static func trackID(_ t: Int) -> String { id("T", t) }
    static func albumID(_ a: Int) -> String { id("L", a) }
    static func artistID(_ a: Int) -> String { id("R", a) }
    static func episodeID(_ e: Int) -> String { id("E", e) }
    static func showID(_ s: Int) -> String { id("S", s) }

    /// Track `t`'s album id and artist ids (its album's artist, its own artist and, for every
    /// third track, the featured one) as `track(_:_:)` writes them; keep the two in step. For
    /// seeding the tracks' dimension fingerprints.
    func trackDims(_ t: Int) -> (albumID: String, artistIDs: [String]) {
        var artists = [Self.artistID(t / 10 / 2), Self.artistID(t / 20)]
        if t % 3 == 0 { artists.append(Self.artistID(Int(Self.mix(UInt64(t)) % UInt64(seenArtists)))) }
        return (Self.albumID(t / 10), artists)
    }

    /// Playlist index from a generated id (inverse of `playlistID`).
    static func index(ofID id: String) -> Int? {
        let b = Array(id.utf8)
        guard b.count == 22 else { return nil }
        var n = 0
        for c in b[1...] {
            guard let d = digits.firstIndex(of: c) else { return nil }
            n = n * 62 + d
        }
        return n
    }

    // MARK: entry choice

    enum Kind { case track(Int), episode(Int), null, local(Int) }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    func kind(playlist p: Int, item j: Int) -> Kind {
        if version > 0 {
            let v = Self.mix(seed &+ UInt64(version) &* 0x1_0000_0001 ^ (UInt64(p) << 32 | UInt64(j)) ^ 0x5EED)
            if Int(v % 100) < newPercent {
                return .track(seenTracks + playlists * itemsPerPlaylist * version + p * itemsPerPlaylist + j)
            }
        }
        let h = Self.mix(seed ^ (UInt64(p) << 32 | UInt64(j)))
        let r = h % 10_000
        if r < 200 { return .episode(Int((h >> 20) % UInt64(Self.episodePool))) }
        if r < 300 { return .null }
        if r < 400 { return .local(p * itemsPerPlaylist + j) }
        if Int((h >> 16) % 100) < newPercent { return .track(seenTracks + p * itemsPerPlaylist + j) }
        return .track(Int((h >> 24) % UInt64(max(1, seenTracks))))
    }

    // MARK: bodies

    /// `GET /playlists/{id}?fields=…` as the client requests it for a poll
    /// (`ItemFields.playlist`): the metadata keys in the filter's order, then the embedded first
    /// page of up to `embeddedLimit` entries under `items`.
    func playlist(playlist p: Int) -> [UInt8] {
        var o = JSONBuf()
        o.bytes.reserveCapacity(80_000)
        let pid = playlistID(p)
        o.raw("{\"id\": ")
        o.str(pid)
        o.raw(", \"snapshot_id\": ")
        o.str(snapshotID(playlist: p))
        o.raw(", \"name\": \"Generated \(p)\", \"description\": \"Generated playlist \(p)\", \"public\": true, ")
        o.raw("\"collaborative\": false, \"owner\": {\"id\": \"emu_owner\", \"display_name\": \"Emulated Owner\"}, ")
        o.raw("\"followers\": {\"total\": \(p % 1000)}, \"items\": ")
        page(&o, playlist: p, offset: 0, limit: Self.embeddedLimit)
        o.raw("}")
        return o.bytes
    }

    /// `GET /playlists/{id}?fields=snapshot_id`.
    func snapshot(playlist p: Int) -> [UInt8] {
        var o = JSONBuf()
        o.raw("{\"snapshot_id\": ")
        o.str(snapshotID(playlist: p))
        o.raw("}")
        return o.bytes
    }

    func snapshotID(playlist p: Int) -> String { "snap-\(seed)-\(p)-v\(version)" }

    /// A page URL as Spotify (and the emulator) write `next`: the request's query carried over,
    /// `fields` included (the emulator leaves `,()` unescaped).
    func pageURL(playlist p: Int, offset: Int) -> String {
        "https://api.spotify.com/v1/playlists/\(playlistID(p))/items?limit=\(Self.pageLimit)&offset=\(offset)"
            + "&additional_types=track,episode&fields=\(ItemFields.items)"
    }

    /// One `/items` page (limit 50) from `offset`, filtered by `ItemFields.items`: keys
    /// `items, limit, next, offset, total`.
    func itemsPage(playlist p: Int, offset: Int) -> [UInt8] {
        var o = JSONBuf()
        o.bytes.reserveCapacity(40_000)
        page(&o, playlist: p, offset: offset, limit: Self.pageLimit)
        return o.bytes
    }

    /// A paging object of up to `limit` entries from `offset`; its `next` asks for
    /// `pageLimit` (the emulator's embedded page does the same).
    private func page(_ o: inout JSONBuf, playlist p: Int, offset: Int, limit: Int) {
        let end = min(itemsPerPlaylist, offset + limit)
        o.raw("{\"items\": [")
        var j = offset
        while j < end {
            if j > offset { o.raw(", ") }
            entry(&o, playlist: p, item: j)
            j += 1
        }
        o.raw("], \"limit\": \(limit), \"next\": ")
        if end < itemsPerPlaylist { o.str(pageURL(playlist: p, offset: end)) } else { o.raw("null") }
        o.raw(", \"offset\": \(offset), \"total\": \(itemsPerPlaylist)}")
    }

    private func addedAt(_ p: Int, _ j: Int) -> String {
        let s = (p * itemsPerPlaylist + j) * 37
        let day = 1 + (s / 86_400) % 28, month = 1 + (s / (86_400 * 28)) % 12
        let hh = (s / 3600) % 24, mm = (s / 60) % 60, ss = s % 60
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "2025-\(two(month))-\(two(day))T\(two(hh)):\(two(mm)):\(two(ss))Z"
    }

    // Entries and item objects below carry exactly the `ItemFields.items` keys, in its order:
    // entry `added_at, added_by(id), is_local, item`; item `album(album_type, artists(id,name),
    // id, name, release_date, release_date_precision, total_tracks), artists(id,name),
    // disc_number, duration_ms, explicit, external_ids(isrc), id, is_local, name, popularity,
    // release_date, release_date_precision, show(id,name), track_number, type, uri` — each only
    // where the full object has it (`apply_fields` keeps present keys only).

    private func entry(_ o: inout JSONBuf, playlist p: Int, item j: Int) {
        let k = kind(playlist: p, item: j)
        o.raw("{\"added_at\": "); o.str(addedAt(p, j))
        o.raw(", \"added_by\": {\"id\": \"emu_owner\"}, \"is_local\": ")
        if case .local = k { o.raw("true") } else { o.raw("false") }
        o.raw(", \"item\": ")
        switch k {
        case .track(let t): track(&o, t)
        case .episode(let e): episode(&o, e)
        case .null: o.raw("null")
        case .local(let n): local(&o, n)
        }
        o.raw("}")
    }

    private func simpleArtist(_ o: inout JSONBuf, _ a: Int) {
        o.raw("{\"id\": \"\(Self.artistID(a))\", \"name\": ")
        o.str(a % 97 == 0 ? "Artíst \(a) ✓" : "Artist \(a)")
        o.raw("}")
    }

    private func album(_ o: inout JSONBuf, _ a: Int) {
        o.raw("{\"album_type\": \"album\", \"artists\": [")
        simpleArtist(&o, a / 2)
        o.raw("], \"id\": \"\(Self.albumID(a))\", \"name\": ")
        o.str("Album \(a)")
        o.raw(", \"release_date\": \"2021-03-05\", \"release_date_precision\": \"day\", \"total_tracks\": 10}")
    }

    private func track(_ o: inout JSONBuf, _ t: Int) {
        let id = Self.trackID(t)
        let h = Self.mix(UInt64(t))
        o.raw("{\"album\": ")
        album(&o, t / 10)
        o.raw(", \"artists\": [")
        simpleArtist(&o, t / 20)
        if t % 3 == 0 { o.raw(", "); simpleArtist(&o, Int(h % UInt64(seenArtists))) }
        o.raw("], \"disc_number\": 1, \"duration_ms\": \(120_000 + Int(h % 240_000)), \"explicit\": \(h % 5 == 0 ? "true" : "false"), \"external_ids\": {\"isrc\": \"QZ\(10_000_000_000 + Int(h % 9_000_000_000))\"}, \"id\": \"\(id)\", \"is_local\": false, \"name\": ")
        o.str(t % 101 == 0 ? "Song \(t) — “quoted” \\ café" : "Song \(t)")
        if h % 5 != 0 { o.raw(", \"popularity\": \(Int(h % 101))") }
        o.raw(", \"track_number\": \(1 + Int(h % 12)), \"type\": \"track\", \"uri\": \"spotify:track:\(id)\"}")
    }

    private func episode(_ o: inout JSONBuf, _ e: Int) {
        let id = Self.episodeID(e), sid = Self.showID(e / 10)
        o.raw("{\"duration_ms\": \(600_000 + e * 1000), \"explicit\": false, \"id\": \"\(id)\", \"name\": ")
        o.str("Episode \(e)")
        o.raw(", \"release_date\": \"2025-0\(1 + e % 9)-1\(e % 10)\", \"release_date_precision\": \"day\", \"show\": {\"id\": \"\(sid)\", \"name\": \"Show \(e / 10)\"}, \"type\": \"episode\", \"uri\": \"spotify:episode:\(id)\"}")
    }

    private func local(_ o: inout JSONBuf, _ n: Int) {
        let secs = 180 + n % 120
        let uri = "spotify:local:Local+Artist+\(n % 7):Local+Album:Local+Song+\(n):\(secs)"
        o.raw("{\"album\": {\"album_type\": null, \"artists\": [], \"id\": null, \"name\": \"Local Album\", \"release_date\": null, \"release_date_precision\": null}, \"artists\": [{\"id\": null, \"name\": \"Local Artist \(n % 7)\"}], \"disc_number\": 0, \"duration_ms\": \(secs * 1000), \"explicit\": false, \"external_ids\": {}, \"id\": null, \"is_local\": true, \"name\": ")
        o.str("Local Song \(n)")
        o.raw(", \"popularity\": 0, \"track_number\": 0, \"type\": \"track\", \"uri\": \"\(uri)\"}")
    }

    /// `GET /artists/{id}`: a full artist (genres, followers, popularity), for enrichment.
    func fullArtist(_ id: String) -> [UInt8] {
        var o = JSONBuf()
        let n = Self.index(ofID: id) ?? 0
        o.raw("{\"external_urls\": {\"spotify\": \"https://open.spotify.com/artist/\(id)\"}, \"followers\": {\"href\": null, \"total\": \(n % 100_000)}, \"genres\": [\"indie pop\", \"dream pop\"], \"href\": \"https://api.spotify.com/v1/artists/\(id)\", \"id\": ")
        o.str(id)
        o.raw(", \"images\": [{\"url\": \"https://i.scdn.co/image/\(id)\", \"height\": 640, \"width\": 640}], \"name\": ")
        o.str(n % 97 == 0 ? "Artíst \(n) ✓" : "Artist \(n)")
        o.raw(", \"popularity\": \(n % 101), \"type\": \"artist\", \"uri\": \"spotify:artist:\(id)\"}")
        return o.bytes
    }
}

/// Minimal JSON byte writer (strings escaped like Python's `json.dumps(ensure_ascii=False)`).
struct JSONBuf {
    var bytes: [UInt8] = []
    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }
    mutating func str(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
