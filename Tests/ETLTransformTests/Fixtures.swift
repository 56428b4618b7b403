import ETLCore
@testable import ETLTransform

/// Spotify-shaped JSON fixtures (2026 API): full track objects as they appear in playlist
/// items, episodes, local files, null items.
enum Fixtures {
    static func artist(_ id: String, _ name: String) -> String {
        """
        {"external_urls":{"spotify":"https://open.spotify.com/artist/\(id)"},"href":"https://api.spotify.com/v1/artists/\(id)",\
        "id":"\(id)","name":"\(name)","type":"artist","uri":"spotify:artist:\(id)"}
        """
    }

    static func track(id: String = "4iV5W9uYEdYUVa79Axb7Rh", name: String = "Never Gonna Give You Up",
                      albumID: String = "6XzE9JxZ6qmtuSZ1bjVTGC", artists: [(String, String)] = [("0gxyHStUsqpMadRV0Di1Qt", "Rick Astley")],
                      albumArtists: [(String, String)]? = nil, releaseDate: String = "1987-11-12", precision: String = "day",
                      duration: String = "213573", popularity: String? = "77", isrc: String? = "GBARL9300135",
                      extra: String = "") -> String {
        let arts = artists.map { artist($0.0, $0.1) }.joined(separator: ",")
        let albArts = (albumArtists ?? artists).map { artist($0.0, $0.1) }.joined(separator: ",")
        let pop = popularity.map { "\"popularity\":\($0)," } ?? ""
        let ext = isrc.map { "\"external_ids\":{\"isrc\":\"\($0)\"}," } ?? "\"external_ids\":{},"
        return """
        {"album":{"album_type":"album","artists":[\(albArts)],"available_markets":["GB","US"],\
        "external_urls":{"spotify":"https://open.spotify.com/album/\(albumID)"},"href":"https://api.spotify.com/v1/albums/\(albumID)",\
        "id":"\(albumID)","images":[{"height":640,"url":"https://i.scdn.co/image/ab67616d0000b273","width":640}],\
        "name":"Whenever You Need Somebody","release_date":"\(releaseDate)","release_date_precision":"\(precision)",\
        "total_tracks":10,"type":"album","uri":"spotify:album:\(albumID)"},\
        "artists":[\(arts)],"available_markets":["GB","US"],"disc_number":1,"duration_ms":\(duration),"episode":false,\
        "explicit":false,\(ext)"external_urls":{"spotify":"https://open.spotify.com/track/\(id)"},\
        "href":"https://api.spotify.com/v1/tracks/\(id)","id":"\(id)","is_local":false,"name":"\(name)",\(pop)\
        "preview_url":null,"track":true,"track_number":1,"type":"track","uri":"spotify:track:\(id)"\(extra)}
        """
    }

    static func episode(id: String = "512ojhOuo1ktJprKbVcKyQ", releaseDate: String = "2026-01-15") -> String {
        """
        {"audio_preview_url":null,"description":"A show about things.","duration_ms":1686230,"episode":true,\
        "explicit":true,"external_urls":{"spotify":"https://open.spotify.com/episode/\(id)"},\
        "href":"https://api.spotify.com/v1/episodes/\(id)","id":"\(id)","is_externally_hosted":false,"is_playable":true,\
        "language":"en","languages":["en"],"name":"Episode 42: Things","release_date":"\(releaseDate)",\
        "release_date_precision":"day","show":{"id":"38bS44xjbVVZ3No3ByF1dJ","name":"The Things Show ",\
        "publisher":"Things Inc","type":"show","uri":"spotify:show:38bS44xjbVVZ3No3ByF1dJ"},"track":false,\
        "type":"episode","uri":"spotify:episode:\(id)"}
        """
    }

    static let local = """
    {"album":{"album_type":null,"artists":[],"available_markets":[],"external_urls":{},"href":null,"id":null,\
    "images":[],"name":"","release_date":null,"release_date_precision":null,"type":"album","uri":null},\
    "artists":[{"external_urls":{},"href":null,"id":null,"name":"Local Band","type":"artist","uri":null}],\
    "available_markets":[],"disc_number":0,"duration_ms":184000,"explicit":false,"external_ids":{},"external_urls":{},\
    "href":null,"id":null,"is_local":true,"name":"My Demo","popularity":0,"preview_url":null,"track_number":0,\
    "type":"track","uri":"spotify:local:Local+Band::My+Demo:184"}
    """

    static func user(_ id: String) -> String {
        """
        {"external_urls":{"spotify":"https://open.spotify.com/user/\(id)"},"href":"https://api.spotify.com/v1/users/\(id)",\
        "id":"\(id)","type":"user","uri":"spotify:user:\(id)"}
        """
    }

    /// A playlist item entry. `field` selects `item`+`track` (2026 shape), `item` only, or
    /// `track` only (older shape).
    enum Field { case both, itemOnly, trackOnly }
    static func entry(_ item: String, addedAt: String? = "2026-03-01T12:00:00Z", addedBy: String? = "alice",
                      field: Field = .both) -> String {
        let at = addedAt.map { "\"\($0)\"" } ?? "null"
        let by = addedBy.map { user($0) } ?? "null"
        let body: String
        switch field {
        case .both: body = "\"item\":\(item),\"track\":\(item)"
        case .itemOnly: body = "\"item\":\(item)"
        case .trackOnly: body = "\"track\":\(item)"
        }
        return "{\"added_at\":\(at),\"added_by\":\(by),\"is_local\":false,\"primary_color\":null,\(body),\"video_thumbnail\":{\"url\":null}}"
    }

    static func page(_ entries: [String], offset: Int = 0, total: Int? = nil, next: String? = nil) -> String {
        let n = next.map { "\"\($0)\"" } ?? "null"
        return """
        {"href":"https://api.spotify.com/v1/playlists/p1/items?offset=\(offset)&limit=50","items":[\(entries.joined(separator: ","))],\
        "limit":50,"next":\(n),"offset":\(offset),"previous":null,"total":\(total ?? entries.count)}
        """
    }

    static func parse(_ s: String) -> JSONValue { try! JSONParser.parse(s) }

    static func parsed(_ entryJSON: String, position: Int = 0) -> ParsedEntry {
        parseEntry(parse(entryJSON), position: position)
    }
}
