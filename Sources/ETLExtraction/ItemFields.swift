import ETLHTTP
import ETLTransform
import FoundationEssentials

/// The `fields` filter the client sends with `GET /playlists/{id}/items` (and the legacy
/// `/tracks`): exactly the keys `decodeItemsPage(json:)` and `parseEntry` read — for their
/// values and for their validation (a key a reject reason tests must be requested, or the
/// reject would turn into a different one) — and nothing else. A full page carries every
/// entry's track object twice (`item` and the deprecated `track` alias) plus links, images and
/// markets nobody reads; the filtered page is a fraction of the bytes to receive and parse.
///
/// Adding a read of a new key means adding it to `ItemsPageKeys`, which both readers use:
/// `ItemFieldsEmulatorTests` compares, entry by entry, what the transform makes of filtered
/// and of full pages (every reject reason included) and fails on any difference.
public enum ItemFields {
    /// Keys of the item object (track, episode or local file), from `ItemsPageKeys`:
    /// `album(album_type,artists(id,name),…),artists(id,name),disc_number,…,type,uri`.
    public static let itemKeys = ItemsPageKeys.filterText(ItemsPageKeys.item)

    /// The filter with the item object selected under `key` (`item` or `track`), from
    /// `ItemsPageKeys.page`: page keys `items`, `limit`, `next`, `offset`, `total`
    /// (`href`/`previous` are never read); entry keys `added_at`, `added_by.id`, `is_local`
    /// (local files are also flagged on the entry).
    public static func filter(itemKey key: String) -> String {
        ItemsPageKeys.filterText(ItemsPageKeys.page(itemKey: key == "track" ? .track : .item))
    }

    /// For `/items`: the object under `item` only, not under the `track` alias that repeats it.
    public static let items = filter(itemKey: "item")
    /// For the legacy `/tracks` endpoint (entries carry only `track`), and for `/items` once the
    /// API has been seen not to honour `item(...)`.
    public static let tracks = filter(itemKey: "track")

    /// Keys of the playlist object the `playlists` table reads.
    public static let playlistKeys =
        "id,snapshot_id,name,description,public,collaborative,owner(id,display_name),followers(total)"

    /// The filter for `GET /playlists/{id}` with the first page of items: the playlist keys,
    /// and the embedded paging object under `container` filtered as an `/items` page with the
    /// item object under `itemKey` — `items(items(added_at,…,item(…)),limit,next,offset,total)`.
    /// The other container (`tracks` beside `items`, and the reverse) is asked for its `total`
    /// only, so an API that names the paging object the other way still gives the count.
    public static func playlist(container: String, itemKey: String) -> String {
        let other = container == "items" ? "tracks" : "items"
        return playlistKeys + ",\(container)(\(filter(itemKey: itemKey))),\(other)(total)"
    }

    /// `url` with its `fields` query parameter set to `filter` (percent-encoded), replacing any
    /// other value. Unchanged when it already carries `filter` (in whatever encoding).
    static func url(_ url: String, withFields filter: String) -> String {
        let (base, query) = split(url)
        let params = query.map(parameters) ?? []
        let given = params.filter(isFields)
        if given.count == 1, URLEncoding.percentDecoded(fieldsValue(given[0])) == filter { return url }
        var kept = params.filter { !isFields($0) }.map(String.init)
        kept.append("fields=" + URLEncoding.encode(filter))
        return String(base) + "?" + kept.joined(separator: "&")
    }

    /// The decoded `fields` parameter of a URL, if any.
    static func fields(in url: String) -> String? {
        guard let query = split(url).query, let p = parameters(query).first(where: isFields) else { return nil }
        return URLEncoding.percentDecoded(fieldsValue(p))
    }

    /// Everything before the first `?`, and everything after it. Read as UTF-8: every
    /// delimiter here is ASCII, and this runs for every page.
    private static func split(_ url: String) -> (base: Substring, query: Substring?) {
        guard let q = url.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (url[...], nil) }
        return (url[..<q], url[url.utf8.index(after: q)...])
    }

    /// The non-empty `&`-separated parameters of a query.
    private static func parameters(_ query: Substring) -> [Substring] {
        query.utf8.split(separator: UInt8(ascii: "&")).map { Substring($0) }
    }

    private static let fieldsPrefix = "fields=".utf8

    private static func isFields(_ parameter: Substring) -> Bool { parameter.utf8.starts(with: fieldsPrefix) }

    private static func fieldsValue(_ parameter: Substring) -> String {
        String(Substring(parameter.utf8.dropFirst(fieldsPrefix.count)))
    }

    /// True when `body` has an object key `key` anywhere: a `"key"` string token (its opening
    /// quote not escaped) followed by optional whitespace and `:`. In valid JSON only a key is
    /// followed by `:`, so this finds keys, never string values, without parsing the page.
    static func containsKey(_ key: String, in body: Data) -> Bool {
        let needle = Array(("\"" + key + "\"").utf8)
        return body.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Bool in
            let b = raw.bindMemory(to: UInt8.self)
            let n = b.count, m = needle.count
            guard n >= m else { return false }
            var i = 0
            while i + m <= n {
                if b[i] == needle[0], b[i + m - 1] == needle[m - 1], i == 0 || b[i - 1] != UInt8(ascii: "\\") {
                    var k = 1
                    while k < m, b[i + k] == needle[k] { k += 1 }
                    if k == m {
                        var j = i + m
                        while j < n, b[j] == 0x20 || b[j] == 0x0A || b[j] == 0x0D || b[j] == 0x09 { j += 1 }
                        if j < n, b[j] == UInt8(ascii: ":") { return true }
                    }
                }
                i += 1
            }
            return false
        }
    }

    /// True when the page's `items` array holds at least one JSON object (an entry that could
    /// have carried `item`). False for an empty page and for a body that is not a page. With
    /// `embeddedIn`, the page is the one a playlist object holds under that key.
    static func hasObjectEntries(_ body: Data, embeddedIn container: String? = nil) -> Bool {
        guard let v = try? JSONParser.parse(Array(body)) else { return false }
        let page = container.map { v[$0] } ?? v
        guard let list = page?["items"]?.arrayValue else { return false }
        return list.contains { $0.objectValue != nil }
    }
}
