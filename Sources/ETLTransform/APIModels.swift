import ETLCore
import FoundationEssentials

/// Why an API body could not be turned into a model. The reason is short and names the cause
/// (e.g. "invalid JSON at byte 123: unterminated string", "missing snapshot_id"); it never
/// contains body content, so it is safe to log.
public enum TransformError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    public var description: String { switch self { case .malformed(let r): return "malformed API body: \(r)" } }
}

/// One page of `GET /playlists/{id}/items` (or the paging object embedded in a playlist).
public struct ItemsPage: Sendable, Equatable {
    /// Raw entries in page order; parse each with `parseEntry(_:position:)` at `offset + index`.
    public var entries: [JSONValue]
    public var total: Int
    public var next: String?
    public var offset: Int
    public var limit: Int
    public init(entries: [JSONValue], total: Int, next: String?, offset: Int, limit: Int) {
        self.entries = entries; self.total = total; self.next = next; self.offset = offset; self.limit = limit
    }
}

/// `GET /playlists/{id}` metadata. In development mode the items may be absent (no access),
/// so everything beyond id/snapshot/name is optional.
public struct PlaylistMeta: Sendable, Equatable {
    public var id: String
    public var snapshotID: String
    public var name: String
    public var description: String?
    public var ownerID: String?
    public var ownerName: String?
    public var isPublic: Bool?
    public var collaborative: Bool?
    public var followers: Int?
    /// `items.total`, falling back to the deprecated `tracks.total`; counts null items too.
    public var total: Int?
    /// Present when the playlist object embedded a paging object (first page of items), its
    /// entries parsed at their positions.
    public var embeddedItems: ParsedItemsPage?

    public init(id: String, snapshotID: String, name: String, description: String? = nil, ownerID: String? = nil,
                ownerName: String? = nil, isPublic: Bool? = nil, collaborative: Bool? = nil, followers: Int? = nil,
                total: Int? = nil, embeddedItems: ParsedItemsPage? = nil) {
        self.id = id; self.snapshotID = snapshotID; self.name = name; self.description = description
        self.ownerID = ownerID; self.ownerName = ownerName; self.isPublic = isPublic
        self.collaborative = collaborative; self.followers = followers; self.total = total
        self.embeddedItems = embeddedItems
    }
}

func parseBody(_ bytes: [UInt8]) throws(TransformError) -> JSONValue {
    switch JSONParser.parseResult(bytes) {
    case .success(let v): return v
    case .failure(let e): throw .malformed(e.description)
    }
}

private func nonEmptyString(_ v: JSONValue?) -> String? {
    guard let s = v?.stringValue, !s.isEmpty else { return nil }
    return s
}

/// The playlist object. Its embedded first page (up to 100 items, and every item of a
/// playlist that small) is read by the direct page decoder, as `/items` pages are, when it
/// takes it; otherwise — or for anything unusual about the object — the whole answer is
/// parsed in full by `decodePlaylistMeta(json:)`, which decides and words every error.
public func decodePlaylistMeta(_ bytes: [UInt8]) throws(TransformError) -> PlaylistMeta {
    if let meta = bytes.withUnsafeBufferPointer(playlistMetaDirect) { return meta }
    return try decodePlaylistMeta(json: parseBody(bytes))
}

/// The containers a playlist object may embed its first page under, in the order
/// `decodePlaylistMeta(json:)` looks at them.
private let embeddedContainers = ["items", "tracks"]

/// `decodePlaylistMeta(json:)`'s result with the embedded page read directly: the object's
/// other keys are parsed as usual, each container key's value goes to the direct page
/// decoder in place. Nil when that is not exactly the full path's result (bad JSON, a
/// container needed but not taken by the direct decoder, a field the full path rejects).
func playlistMetaDirect(_ buf: UnsafeBufferPointer<UInt8>) -> PlaylistMeta? {
    enum Container { case page(ParsedItemsPage), other }
    var p = Parser(p: buf, maxDepth: JSONParser.defaultMaxDepth)
    var fields: [(key: String, value: JSONValue)] = []
    var containers: [String: Container] = [:]
    var firstSeen = Set<String>()
    do throws(JSONParseError) {
        p.skipWS()
        guard p.atObject else { return nil }
        try p.enter()
        p.i += 1
        p.skipWS()
        if p.i < buf.count, buf[p.i] == UInt8(ascii: "}") {
            p.i += 1
        } else {
            while true {
                p.skipWS()
                guard p.i < buf.count, buf[p.i] == UInt8(ascii: "\"") else { return nil }
                let k = try p.string()
                p.skipWS()
                guard p.i < buf.count, buf[p.i] == UInt8(ascii: ":") else { return nil }
                p.i += 1
                p.skipWS()
                // The first occurrence of a key is the one `JSONValue`'s subscript finds.
                if embeddedContainers.contains(k), firstSeen.insert(k).inserted, p.atObject {
                    // The container object sits one level below the playlist object.
                    let rest = UnsafeBufferPointer(rebasing: buf[p.i...])
                    var sub = Parser(p: rest, maxDepth: JSONParser.defaultMaxDepth - 1)
                    if var fast = sub.fastItemsPageObject(positionBase: 0), let page = parsedItemsPage(&fast, rest) {
                        containers[k] = .page(page)
                        p.i += sub.i
                    } else {
                        // Not a page the direct decoder takes (`tracks(total)` beside the page,
                        // say): fine unless the full path would read it.
                        try p.skipValue()
                        containers[k] = .other
                    }
                    fields.append((k, .null))
                } else {
                    fields.append((k, try p.value()))
                }
                p.skipWS()
                guard p.i < buf.count else { return nil }
                if buf[p.i] == UInt8(ascii: ",") { p.i += 1; continue }
                guard buf[p.i] == UInt8(ascii: "}") else { return nil }
                p.i += 1
                break
            }
        }
        p.skipWS()
        guard p.i == buf.count else { return nil }
    } catch {
        return nil
    }
    // The other keys as the full path reads them (containers seen as absent there) …
    guard var meta = try? decodePlaylistMeta(json: .object(fields.filter { containers[$0.key] == nil })) else { return nil }
    // … and the containers as it would: the first with a total gives it, the first with a
    // page gives the page; a directly decoded page answers both. A container it would read
    // that the direct decoder did not take sends the whole object down the full path.
    for k in embeddedContainers where meta.total == nil || meta.embeddedItems == nil {
        switch containers[k] {
        case nil: continue
        case .other?: return nil
        case .page(let page)?:
            if meta.total == nil { meta.total = page.total }
            if meta.embeddedItems == nil { meta.embeddedItems = page }
        }
    }
    return meta
}

public func decodePlaylistMeta(_ data: Data) throws(TransformError) -> PlaylistMeta {
    try decodePlaylistMeta(Array(data))
}

/// `value` when it is at most `limit` UTF-8 bytes; else the answer is malformed, naming the
/// field, its size and the bound (never its text).
private func bounded(_ value: String?, _ field: String, _ limit: Int) throws(TransformError) -> String? {
    guard let value else { return nil }
    let n = value.utf8.count
    guard n <= limit else {
        throw .malformed("\(field) is \(LogText.count(n)) bytes, over the \(LogText.count(limit))-byte bound")
    }
    return value
}

/// The playlist object. Its `id` and `snapshot_id` are bounded by `AnswerLimits.playlistIDBytes`
/// and `snapshotIDBytes`, its name, description, owner id and display name by
/// `playlistTextBytes`: past a bound the whole answer is malformed (the poll fails and is
/// retried next time), as a truncated or cut-down value would be a wrong fact.
public func decodePlaylistMeta(json v: JSONValue) throws(TransformError) -> PlaylistMeta {
    guard v.objectValue != nil else { throw .malformed("playlist is not an object") }
    guard let id = try bounded(nonEmptyString(v["id"]), "id", AnswerLimits.playlistIDBytes) else { throw .malformed("missing id") }
    guard let snap = try bounded(nonEmptyString(v["snapshot_id"]), "snapshot_id", AnswerLimits.snapshotIDBytes) else {
        throw .malformed("missing snapshot_id")
    }
    guard let name = try bounded(v["name"]?.stringValue, "name", AnswerLimits.playlistTextBytes) else {
        throw .malformed("missing name")
    }
    var meta = PlaylistMeta(id: id, snapshotID: snap, name: TextCleaning.clean(name))
    meta.description = try bounded(v["description"]?.stringValue, "description", AnswerLimits.playlistTextBytes)
        .map(TextCleaning.clean)
    if let owner = v["owner"] {
        meta.ownerID = try bounded(nonEmptyString(owner["id"]), "owner.id", AnswerLimits.playlistTextBytes)
        meta.ownerName = try bounded(owner["display_name"]?.stringValue, "owner.display_name", AnswerLimits.playlistTextBytes)
            .map(TextCleaning.clean)
    }
    meta.isPublic = v["public"]?.boolValue
    meta.collaborative = v["collaborative"]?.boolValue
    meta.followers = v["followers"]?["total"]?.intValue
    for field in ["items", "tracks"] {
        guard let container = v[field], container.objectValue != nil else { continue }
        if meta.total == nil { meta.total = container["total"]?.intValue }
        if meta.embeddedItems == nil, container["items"]?.arrayValue != nil {
            meta.embeddedItems = parsedFully(try decodeItemsPage(json: container))
        }
    }
    return meta
}

/// The `snapshot_id` of a `GET /playlists/{id}?fields=snapshot_id` answer (any playlist object
/// will do), bounded by `AnswerLimits.snapshotIDBytes` like the full decoder's.
public func decodeSnapshotID(_ bytes: [UInt8]) throws(TransformError) -> String {
    let v = try parseBody(bytes)
    guard v.objectValue != nil else { throw .malformed("playlist is not an object") }
    guard let snap = try bounded(nonEmptyString(v["snapshot_id"]), "snapshot_id", AnswerLimits.snapshotIDBytes) else {
        throw .malformed("missing snapshot_id")
    }
    return snap
}

public func decodeSnapshotID(_ data: Data) throws(TransformError) -> String { try decodeSnapshotID(Array(data)) }

public func decodeItemsPage(_ bytes: [UInt8]) throws(TransformError) -> ItemsPage {
    try decodeItemsPage(json: parseBody(bytes))
}

public func decodeItemsPage(_ data: Data) throws(TransformError) -> ItemsPage {
    try decodeItemsPage(Array(data))
}

public func decodeItemsPage(json v: JSONValue) throws(TransformError) -> ItemsPage {
    guard v.objectValue != nil else { throw .malformed("items page is not an object") }
    guard let entries = v[ItemsPageKeys.Page.items]?.arrayValue else { throw .malformed("missing items array") }
    guard let total = v[ItemsPageKeys.Page.total]?.intValue, total >= 0 else { throw .malformed("missing total") }
    // Positions are offset + index, so a page without a valid offset cannot be placed.
    guard let offset = v[ItemsPageKeys.Page.offset]?.intValue, offset >= 0 else { throw .malformed("missing offset") }
    // Positions are offset + index: an offset no playlist reaches is refused before any is computed.
    guard offset <= ItemsPageAgreement.maxTotal else {
        throw .malformed("offset \(offset) is beyond any playlist (over \(LogText.count(ItemsPageAgreement.maxTotal)) items)")
    }
    let limit = v[ItemsPageKeys.Page.limit]?.intValue ?? entries.count
    let next = v[ItemsPageKeys.Page.next]?.stringValue
    return ItemsPage(entries: entries, total: total, next: next, offset: offset, limit: limit)
}

/// `GET /artists?ids=…` → the full artist facts in it. Null entries (unknown ids) and entries
/// without an id are skipped: there is nothing to key them by.
public func decodeArtists(_ bytes: [UInt8]) throws(TransformError) -> [ArtistFact] {
    let v = try parseBody(bytes)
    guard let list = v["artists"]?.arrayValue else { throw .malformed("missing artists array") }
    return list.compactMap { fullArtist($0) }
}

public func decodeArtists(_ data: Data) throws(TransformError) -> [ArtistFact] { try decodeArtists(Array(data)) }

/// `GET /artists/{id}` → one full artist fact.
public func decodeArtist(_ bytes: [UInt8]) throws(TransformError) -> ArtistFact {
    let v = try parseBody(bytes)
    guard v.objectValue != nil else { throw .malformed("artist is not an object") }
    guard nonEmptyString(v["id"]) != nil else { throw .malformed("missing id") }
    guard v["name"]?.stringValue != nil else { throw .malformed("missing name") }
    guard let a = fullArtist(v) else { throw .malformed("artist is over its text bounds") }
    return a
}

public func decodeArtist(_ data: Data) throws(TransformError) -> ArtistFact { try decodeArtist(Array(data)) }

/// A full artist object. `genres` is `[]` when the field is absent or not an array, because
/// a full artist has been asked about: the fact is complete even if Spotify knows none.
/// An artist over `AnswerLimits` (more than `entryTextBytes` of id, name and genres, or more
/// than `artistsPerList` genres) is nil, like one without an id: it stays incomplete.
func fullArtist(_ v: JSONValue) -> ArtistFact? {
    guard let id = nonEmptyString(v["id"]), let name = v["name"]?.stringValue else { return nil }
    let genres = (v["genres"]?.arrayValue ?? []).compactMap { $0.stringValue.map(TextCleaning.clean) }
    let text = genres.reduce(id.utf8.count + name.utf8.count) { $0 + $1.utf8.count }
    guard genres.count <= AnswerLimits.artistsPerList, text <= AnswerLimits.entryTextBytes else { return nil }
    return ArtistFact(id: id, name: TextCleaning.clean(name), genres: genres,
                      followers: v["followers"]?["total"]?.intValue, popularity: v["popularity"]?.intValue)
}

/// One `/items` page with its entries already parsed (`parseEntry` at `offset + index`).
public struct ParsedItemsPage: Sendable, Equatable {
    public var entries: [ParsedEntry]
    public var total: Int
    public var next: String?
    public var offset: Int
    public var limit: Int
    public init(entries: [ParsedEntry], total: Int, next: String?, offset: Int, limit: Int) {
        self.entries = entries; self.total = total; self.next = next; self.offset = offset; self.limit = limit
    }
}

/// `decodeItemsPage` + `parseEntry` for every entry, with the same results, errors and
/// reject texts, but faster: the direct decoder (`FastItemsPage.swift`) reads the page once
/// without building a tree; what it leaves to the general path — an entry that is a reject or
/// a local file, or a whole page it does not take — is parsed in full by the same tokenizer,
/// so reasons, errors and a reject's canonical `raw` are exactly what the full parse gives.
public func decodeParsedItemsPage(_ bytes: [UInt8]) throws(TransformError) -> ParsedItemsPage {
    let r: Result<ParsedItemsPage, TransformError> = bytes.withUnsafeBufferPointer { buf in
        do throws(TransformError) { return .success(try decodeParsedItemsPage(buffer: buf)) } catch { return .failure(error) }
    }
    return try r.get()
}

/// As `decodeParsedItemsPage(_:)` for a `Data` body, parsed in place (no copy of the page).
public func decodeParsedItemsPage(_ data: Data) throws(TransformError) -> ParsedItemsPage {
    let r: Result<ParsedItemsPage, TransformError> = data.withUnsafeBytes { raw in
        do throws(TransformError) { return .success(try decodeParsedItemsPage(buffer: raw.bindMemory(to: UInt8.self))) } catch { return .failure(error) }
    }
    return try r.get()
}

private func decodeParsedItemsPage(buffer bytes: UnsafeBufferPointer<UInt8>) throws(TransformError) -> ParsedItemsPage {
    if var fast = JSONParser.fastItemsPage(bytes), let page = parsedItemsPage(&fast, bytes) { return page }
    return try parsedFully(decodeItemsPage(Array(bytes)))
}

/// For tests: how the direct decoder handled a page: entries decoded directly and entries
/// left to the general path; nil when it gave the page to the general path.
func fastItemsPageCounts(_ bytes: [UInt8]) -> (direct: Int, general: Int)? {
    bytes.withUnsafeBufferPointer { buf -> (direct: Int, general: Int)? in
        guard var fast = JSONParser.fastItemsPage(buf) else { return nil }
        let general = fast.general.count, count = fast.entries.count
        guard parsedItemsPage(&fast, buf) != nil else { return nil }
        return (count - general, general)
    }
}

/// The page from the direct decoder (`FastItemsPage.swift`): the checks and fields of
/// `decodeItemsPage(json:)`; entries it left as byte ranges are parsed in full and given to
/// `parseEntry`. Nil when the page is not a valid items page (the general path reports why).
private func parsedItemsPage(_ fast: inout FastPage, _ bytes: UnsafeBufferPointer<UInt8>) -> ParsedItemsPage? {
    guard let total = fast.total.intValue, total >= 0, let offset = fast.offset.intValue, offset >= 0,
          offset <= ItemsPageAgreement.maxTotal else { return nil }
    var entries: [ParsedEntry] = []
    swap(&entries, &fast.entries)
    if offset != fast.positionBase {
        // The guessed offset was wrong: every position is off by the same amount.
        entries = entries.enumerated().map { k, e in
            switch e {
            case .track(let t, var c): c.position = offset + k; return .track(t, c)
            case .episode(let ep, var c): c.position = offset + k; return .episode(ep, c)
            case .local(let l, var c): c.position = offset + k; return .local(l, c)
            case .reject(let reason, let raw, _): return .reject(reason: reason, raw: raw, position: offset + k)
            }
        }
    }
    for (k, range) in fast.general {
        guard let v = try? JSONParser.parse(Array(UnsafeBufferPointer(rebasing: bytes[range]))) else { return nil }
        entries[k] = parseEntry(v, position: offset + k)
    }
    return ParsedItemsPage(entries: entries, total: total, next: fast.nextString, offset: offset,
                           limit: fast.limit.intValue ?? entries.count)
}

/// A decoded page with every entry given to `parseEntry` at `offset + index`: the same entries
/// `decodeParsedItemsPage` makes of the page's bytes. For the page embedded in a playlist
/// object, which arrives already decoded with its metadata.
public func parsedItemsPage(_ page: ItemsPage) -> ParsedItemsPage { parsedFully(page) }

private func parsedFully(_ page: ItemsPage) -> ParsedItemsPage {
    ParsedItemsPage(entries: page.entries.enumerated().map { parseEntry($0.element, position: page.offset + $0.offset) },
                    total: page.total, next: page.next, offset: page.offset, limit: page.limit)
}
