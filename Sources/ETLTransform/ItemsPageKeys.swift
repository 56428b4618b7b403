/// Every key read from a playlist items page (an `/items` page, or the page embedded in
/// `/playlists/{id}`), declared once, object by object. Derived from it: the `fields` filter
/// the client sends (`ItemFields`), the direct decoder's key tables (`KeyTable`), the lookups
/// of `decodeItemsPage` and `parseEntry`, and the keys the tests vary. A key read for
/// validation only counts as read: a reject reason that tests it needs it in the filter.
public enum ItemsPageKeys {
    public enum Page: String, CaseIterable, Sendable { case items, limit, next, offset, total }
    /// `item` and its deprecated alias `track` hold the same object; a filter asks for one.
    public enum Entry: String, CaseIterable, Sendable {
        case addedAt = "added_at", addedBy = "added_by", isLocal = "is_local", item, track
    }
    public enum AddedBy: String, CaseIterable, Sendable { case id }
    /// A track, an episode or a local file.
    public enum Item: String, CaseIterable, Sendable {
        case album, artists, discNumber = "disc_number", durationMs = "duration_ms", explicit,
             externalIDs = "external_ids", id, isLocal = "is_local", name, popularity,
             releaseDate = "release_date", releaseDatePrecision = "release_date_precision", show,
             trackNumber = "track_number", type, uri
    }
    public enum Album: String, CaseIterable, Sendable {
        case albumType = "album_type", artists, id, name, releaseDate = "release_date",
             releaseDatePrecision = "release_date_precision", totalTracks = "total_tracks"
    }
    public enum Artist: String, CaseIterable, Sendable { case id, name }
    public enum ExternalIDs: String, CaseIterable, Sendable { case isrc }
    public enum Show: String, CaseIterable, Sendable { case id, name }

    /// A key and the keys read inside its value.
    public struct Node: Sendable, Equatable {
        public let name: String
        public let children: [Node]
    }

    private static func nodes<K: CaseIterable & RawRepresentable>(_: K.Type, _ children: (K) -> [Node] = { _ in [] }) -> [Node]
    where K.RawValue == String {
        K.allCases.map { Node(name: $0.rawValue, children: children($0)) }
    }

    public static let artist = nodes(Artist.self)
    public static let album = nodes(Album.self) { $0 == .artists ? artist : [] }
    public static let item = nodes(Item.self) { k in
        switch k {
        case .album: return album
        case .artists: return artist
        case .externalIDs: return nodes(ExternalIDs.self)
        case .show: return nodes(Show.self)
        default: return []
        }
    }
    /// An entry with its item object under `itemKey` only (`item` or `track`).
    public static func entry(itemKey: Entry) -> [Node] {
        nodes(Entry.self) { k in
            switch k {
            case .addedBy: return nodes(AddedBy.self)
            case .item, .track: return item
            default: return []
            }
        }.filter { $0.name != (itemKey == .item ? Entry.track : Entry.item).rawValue }
    }
    public static func page(itemKey: Entry) -> [Node] {
        nodes(Page.self) { $0 == .items ? entry(itemKey: itemKey) : [] }
    }

    /// The `fields` filter syntax: `a,b(c,d)`.
    public static func filterText(_ nodes: [Node]) -> String {
        nodes.map { $0.children.isEmpty ? $0.name : "\($0.name)(\(filterText($0.children)))" }.joined(separator: ",")
    }

    /// Every key name read anywhere on a page (either item key), once each.
    public static var allNames: Set<String> {
        func walk(_ ns: [Node], into s: inout Set<String>) { for n in ns { s.insert(n.name); walk(n.children, into: &s) } }
        var s = Set<String>()
        walk(page(itemKey: .item), into: &s)
        walk(page(itemKey: .track), into: &s)
        return s
    }
}

extension JSONValue {
    /// The value of a declared key (first occurrence wins, as for any key).
    subscript<K: RawRepresentable>(_ key: K) -> JSONValue? where K.RawValue == String { self[key.rawValue] }
}
