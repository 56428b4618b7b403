#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ETLCore

// A direct decoder for `/items` pages: entries are read from the bytes straight into facts,
// without building a `JSONValue` tree, key Strings or looking keys up by linear scans.
//
// It only ever answers for the common case and hands everything else to the general path:
// - the whole page is validated exactly as `JSONParser.parse` validates it (same grammar,
//   UTF-8, escape, number and depth checks, shared code); any error, an escaped key at page
//   level, or an `items` that is not an array gives up on the page (`nil`), and the caller
//   uses the general path, which reports the exact error;
// - an entry is decoded here only when `parseEntry` would make a track or an episode of it
//   (within `AnswerLimits`: one over them is `parseEntry`'s `entry_too_large` reject);
//   anything else (a reject of any kind, a local file, an escaped key, a `type` that is not
//   exactly the bytes `track`/`episode`) is validated and left as a byte range, which the
//   caller parses in full and hands to `parseEntry`, as the general path does;
// - duplicate keys: the first occurrence wins, as in `JSONValue.subscript(key:)`; later
//   ones are validated and skipped;
// - the fields found are turned into facts by `EntryFacts`, the rules `parseEntry` applies
//   too; numbers are read as `JSONValue.intValue` reads them, timestamps with `FastTimestamp`.
// `ItemsPageDecodeTests` and `FastItemsPageTests` compare the result with the full decode on
// thousands of corrupted and mutated pages.

/// One scalar read from the bytes: its kind and, for a string, where its text is.
enum FastTok {
    case absent, null, bool(Bool), int(Int64), double(Double)
    /// Between the quotes; `plain` when it has no escapes (its bytes are its UTF-8).
    case string(start: Int, end: Int, plain: Bool)
    /// An array or object (validated, not read).
    case other

    var isString: Bool { if case .string = self { return true } else { return false } }

    /// Exactly `JSONValue.intValue` of the same token.
    var intValue: Int? {
        switch self {
        case .int(let v): return JSONValue.int(v).intValue
        case .double(let d): return JSONValue.double(d).intValue
        default: return nil
        }
    }

    var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
}

struct FastAlbum {
    var seen: UInt32 = 0
    var id = FastTok.absent, name = FastTok.absent, albumType = FastTok.absent, totalTracks = FastTok.absent
    var releaseDate = FastTok.absent, precision = FastTok.absent
    var artists = ArtistsField.notArray
}

struct FastShow {
    var seen: UInt32 = 0
    var id = FastTok.absent, name = FastTok.absent
}

struct FastItem {
    var seen: UInt32 = 0
    var isLocal = FastTok.absent, id = FastTok.absent, uri = FastTok.absent, name = FastTok.absent
    var type = FastTok.absent, duration = FastTok.absent, disc = FastTok.absent, trackNumber = FastTok.absent
    var popularity = FastTok.absent, explicit = FastTok.absent
    var releaseDate = FastTok.absent, precision = FastTok.absent
    var artists = ArtistsField.notArray
    /// Nil when absent or not an object.
    var album: FastAlbum? = nil
    /// `external_ids.isrc` when `external_ids` is an object.
    var isrc = FastTok.absent
    /// Nil when absent or not an object.
    var show: FastShow? = nil
}

/// What an entry's `item` / `track` key held; the object itself is read into `FastEntry`.
enum FastSlotKind {
    case absent, null, other, object
}

/// An entry's read keys. The item objects are stored inline and filled in place (they are
/// large: copying them was a visible cost).
struct FastEntry {
    var seen: UInt32 = 0
    var itemKind = FastSlotKind.absent, trackKind = FastSlotKind.absent
    var item = FastItem(), track = FastItem()
    var addedAt = FastTok.absent, isLocal = FastTok.absent
    /// `added_by.id` when `added_by` is an object.
    var addedByID = FastTok.absent
}

struct FastPage {
    /// Entries in page order, at positions `positionBase + index`. Those in `general` are
    /// placeholders: the caller parses their bytes in full.
    var entries: [ParsedEntry]
    var general: [(index: Int, bytes: Range<Int>)] = []
    /// The page's offset as guessed before parsing it (see `guessedOffset`); the caller fixes
    /// the positions when the real one differs.
    var positionBase = 0
    var total = FastTok.absent, offset = FastTok.absent, limit = FastTok.absent, next = FastTok.absent
    var nextString: String?
}

/// Thrown (as a parse error) to leave the fast path for an entry or a page.
private let giveUp = JSONParseError(offset: -1, reason: "fast path not applicable")

extension Parser {
    /// The page decoded directly, or nil when the general path must decide (see above).
    mutating func fastItemsPage() -> FastPage? {
        skipWS()
        guard let page = fastItemsPageObject(positionBase: guessedOffset()) else { return nil }
        skipWS()
        return i == p.count ? page : nil
    }

    /// The page object at `i` decoded directly, `i` left just past its `}` (what follows is
    /// the caller's business: a page embedded in a playlist object is followed by the rest of
    /// that object); nil when the general path must decide. `positionBase` is the offset the
    /// entries are positioned from until the page's own `offset` is read (a guess; the
    /// parsed offset decides).
    mutating func fastItemsPageObject(positionBase: Int) -> FastPage? {
        do {
            guard i < p.count, p[i] == UInt8(ascii: "{") else { return nil }
            var page = FastPage(entries: [])
            page.positionBase = positionBase
            var seen: UInt32 = 0
            var haveItems = false
            if try openObject() {
                repeat {
                    switch try field(KeyTables.page, &seen) {
                    case .items?:
                        guard i < p.count, p[i] == UInt8(ascii: "[") else { return nil }
                        try fastEntries(&page)
                        haveItems = true
                    case .total?: page.total = try tok()
                    case .offset?: page.offset = try tok()
                    case .limit?: page.limit = try tok()
                    case .next?: page.next = try tok()
                    case nil: try skipValue()
                    }
                } while try fieldEnd()
            }
            guard haveItems else { return nil }
            page.nextString = try stringOf(page.next)
            return page
        } catch {
            return nil
        }
    }

    // MARK: containers

    /// At `{`: enters it; false when it is empty (and already closed).
    @inline(__always)
    mutating func openObject() throws(JSONParseError) -> Bool {
        try enter()
        i += 1
        skipWS()
        if i < p.count, p[i] == UInt8(ascii: "}") { i += 1; depth -= 1; return false }
        return true
    }

    /// Reads `"key" :` and the whitespace after it; returns the key's bytes (start, count).
    /// A key with escapes gives up (its bytes are not its text).
    @inline(__always)
    mutating func fieldKey() throws(JSONParseError) -> (Int, Int) {
        skipWS()
        guard i < p.count else { throw fail("unexpected end of input") }
        guard p[i] == UInt8(ascii: "\"") else { throw fail("expected object key") }
        let s = i + 1
        guard try skipString() else { throw giveUp }
        let n = i - 1 - s
        skipWS()
        guard i < p.count else { throw fail("unexpected end of input") }
        guard p[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
        i += 1
        skipWS()
        return (s, n)
    }

    /// After a field's value: true when another field follows, false at (and past) `}`.
    @inline(__always)
    mutating func fieldEnd() throws(JSONParseError) -> Bool {
        skipWS()
        guard i < p.count else { throw fail("unexpected end of input") }
        if p[i] == UInt8(ascii: ",") { i += 1; return true }
        if p[i] == UInt8(ascii: "}") { i += 1; depth -= 1; return false }
        throw fail("expected ',' or '}'")
    }

    /// At `[`: enters it; false when it is empty (and already closed).
    @inline(__always)
    mutating func openArray() throws(JSONParseError) -> Bool {
        try enter()
        i += 1
        skipWS()
        if i < p.count, p[i] == UInt8(ascii: "]") { i += 1; depth -= 1; return false }
        return true
    }

    @inline(__always)
    mutating func elementEnd() throws(JSONParseError) -> Bool {
        skipWS()
        guard i < p.count else { throw fail("unexpected end of input") }
        if p[i] == UInt8(ascii: ",") { i += 1; return true }
        if p[i] == UInt8(ascii: "]") { i += 1; depth -= 1; return false }
        throw fail("expected ',' or ']'")
    }

    /// The next field's key in `table` when it is that key's first occurrence in the object
    /// (`seen` records it: the first occurrence wins); nil for any other key, or a repeat,
    /// whose value the caller skips.
    @inline(__always)
    mutating func field<K>(_ table: KeyTable<K>, _ seen: inout UInt32) throws(JSONParseError) -> K? {
        let (s, n) = try fieldKey()
        guard let m = table.lookup(p.baseAddress! + s, n), seen & m.bit == 0 else { return nil }
        seen |= m.bit
        return m.key
    }

    /// Whether the `n` bytes at `s` are `k`'s.
    @inline(__always)
    func bytes(_ s: Int, _ n: Int, are k: StaticString) -> Bool {
        n == k.utf8CodeUnitCount && memcmp(p.baseAddress! + s, k.utf8Start, n) == 0
    }

    /// Whether the value at `i` is an object.
    @inline(__always)
    var atObject: Bool { i < p.count && p[i] == UInt8(ascii: "{") }

    /// One value: scalars are read, containers validated and skipped.
    mutating func tok() throws(JSONParseError) -> FastTok {
        guard i < p.count else { throw fail("unexpected end of input") }
        switch p[i] {
        case UInt8(ascii: "\""):
            let s = i + 1
            let plain = try skipString()
            return .string(start: s, end: i - 1, plain: plain)
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            switch try number() {
            case .int(let v): return .int(v)
            case .double(let d): return .double(d)
            default: return .other
            }
        default:
            try skipValue()
            return .other
        }
    }

    /// The String a string token parses to (as `string()` makes it); nil for other tokens.
    mutating func stringOf(_ t: FastTok) throws(JSONParseError) -> String? {
        guard case .string(let s, let e, let plain) = t else { return nil }
        if plain { return String(decoding: UnsafeBufferPointer(rebasing: p[s..<e]), as: UTF8.self) }
        let saved = i
        defer { i = saved }
        i = s - 1
        return try string()
    }

    mutating func nonEmptyString(_ t: FastTok) throws(JSONParseError) -> String? {
        guard let s = try stringOf(t), !s.isEmpty else { return nil }
        return s
    }

    // MARK: entries

    /// The value of the last `"offset":` in the page's last bytes, or 0: where the API puts
    /// the page's offset (after `items`). Only a guess, so entries can be given their final
    /// positions as they are decoded; the parsed offset decides.
    func guessedOffset() -> Int {
        guard let base = p.baseAddress, p.count >= 10 else { return 0 }
        let needle: StaticString = "\"offset\""
        let n = needle.utf8CodeUnitCount
        var k = p.count - n
        let stop = max(0, p.count - 512)
        while k >= stop {
            if base[k] == UInt8(ascii: "\""), memcmp(base + k, needle.utf8Start, n) == 0 {
                var j = k + n
                while j < p.count, base[j] == 0x20 || base[j] == 0x0A || base[j] == 0x0D || base[j] == 0x09 || base[j] == UInt8(ascii: ":") { j += 1 }
                var v = 0, digits = 0
                while j < p.count, base[j] >= 0x30, base[j] <= 0x39, digits < 15 { v = v * 10 + Int(base[j] - 0x30); j += 1; digits += 1 }
                return v
            }
            k -= 1
        }
        return 0
    }

    mutating func fastEntries(_ page: inout FastPage) throws(JSONParseError) {
        var out: [ParsedEntry] = []
        out.reserveCapacity(64)
        defer { page.entries = out }
        guard try openArray() else { return }
        repeat {
            skipWS()
            let start = i, startDepth = depth
            var done: ParsedEntry? = nil
            if i < p.count, p[i] == UInt8(ascii: "{") {
                do {
                    var e = FastEntry()
                    try entrySlots(&e)
                    done = try evaluate(e, position: page.positionBase + out.count)
                } catch {
                    // Not for here (or not valid): validate it as the full parser would.
                    i = start
                    depth = startDepth
                    done = nil
                    try skipValue()
                }
            } else {
                try skipValue()
            }
            if let done {
                out.append(done)
            } else {
                page.general.append((out.count, start..<i))
                out.append(.reject(reason: "", raw: "", position: page.positionBase + out.count))
            }
        } while try elementEnd()
    }

    mutating func entrySlots(_ e: inout FastEntry) throws(JSONParseError) {
        var itemBytes: Range<Int>? = nil
        guard try openObject() else { return }
        repeat {
            switch try field(KeyTables.entry, &e.seen) {
            case .item?:
                let start = i
                e.itemKind = try itemSlot(&e.item)
                if e.itemKind == .object { itemBytes = start..<i }
            case .track?:
                // Usually `item` again, byte for byte: same bytes at the same depth parse
                // (and validate) identically. `item` is then an object, so `track` is not
                // read (only its kind is kept).
                if let r = itemBytes, i + r.count <= p.count, memcmp(p.baseAddress! + i, p.baseAddress! + r.lowerBound, r.count) == 0 {
                    i += r.count
                    e.trackKind = .object
                } else {
                    e.trackKind = try itemSlot(&e.track)
                }
            case .addedAt?: e.addedAt = try tok()
            case .addedBy?:
                if atObject { e.addedByID = try addedByID() } else { try skipValue() }
            case .isLocal?: e.isLocal = try tok()
            case nil: try skipValue()
            }
        } while try fieldEnd()
    }

    /// `added_by.id`.
    mutating func addedByID() throws(JSONParseError) -> FastTok {
        var id = FastTok.absent
        var seen: UInt32 = 0
        guard try openObject() else { return id }
        repeat {
            switch try field(KeyTables.addedBy, &seen) {
            case .id?: id = try tok()
            case nil: try skipValue()
            }
        } while try fieldEnd()
        return id
    }

    mutating func itemSlot(_ t: inout FastItem) throws(JSONParseError) -> FastSlotKind {
        guard i < p.count else { throw fail("unexpected end of input") }
        switch p[i] {
        case UInt8(ascii: "{"): try itemObject(&t); return .object
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: try skipValue(); return .other
        }
    }

    mutating func itemObject(_ t: inout FastItem) throws(JSONParseError) {
        guard try openObject() else { return }
        repeat {
            switch try field(KeyTables.item, &t.seen) {
            case .id?: t.id = try tok()
            case .uri?: t.uri = try tok()
            case .name?: t.name = try tok()
            case .type?: t.type = try tok()
            case .show?: if atObject { t.show = try showObject() } else { try skipValue() }
            case .album?: if atObject { t.album = try albumObject() } else { try skipValue() }
            case .artists?: t.artists = try artists()
            case .isLocal?: t.isLocal = try tok()
            case .explicit?: t.explicit = try tok()
            case .popularity?: t.popularity = try tok()
            case .discNumber?: t.disc = try tok()
            case .durationMs?: t.duration = try tok()
            case .externalIDs?: if atObject { t.isrc = try isrc() } else { try skipValue() }
            case .releaseDate?: t.releaseDate = try tok()
            case .trackNumber?: t.trackNumber = try tok()
            case .releaseDatePrecision?: t.precision = try tok()
            case nil: try skipValue()
            }
        } while try fieldEnd()
    }

    /// `external_ids.isrc`.
    mutating func isrc() throws(JSONParseError) -> FastTok {
        var isrc = FastTok.absent
        var seen: UInt32 = 0
        guard try openObject() else { return isrc }
        repeat {
            switch try field(KeyTables.externalIDs, &seen) {
            case .isrc?: isrc = try tok()
            case nil: try skipValue()
            }
        } while try fieldEnd()
        return isrc
    }

    mutating func showObject() throws(JSONParseError) -> FastShow {
        var sh = FastShow()
        guard try openObject() else { return sh }
        repeat {
            switch try field(KeyTables.show, &sh.seen) {
            case .id?: sh.id = try tok()
            case .name?: sh.name = try tok()
            case nil: try skipValue()
            }
        } while try fieldEnd()
        return sh
    }

    mutating func albumObject() throws(JSONParseError) -> FastAlbum {
        var a = FastAlbum()
        guard try openObject() else { return a }
        repeat {
            switch try field(KeyTables.album, &a.seen) {
            case .id?: a.id = try tok()
            case .name?: a.name = try tok()
            case .albumType?: a.albumType = try tok()
            case .totalTracks?: a.totalTracks = try tok()
            case .releaseDate?: a.releaseDate = try tok()
            case .releaseDatePrecision?: a.precision = try tok()
            case .artists?: a.artists = try artists()
            case nil: try skipValue()
            }
        } while try fieldEnd()
        return a
    }

    /// The `artists` list: each element an object read with `EntryFacts.artist`.
    mutating func artists() throws(JSONParseError) -> ArtistsField {
        guard i < p.count, p[i] == UInt8(ascii: "[") else { try skipValue(); return .notArray }
        var list: [ArtistFact] = []
        var ok = true
        guard try openArray() else { return .ok(list) }
        repeat {
            skipWS()
            if ok, i < p.count, p[i] == UInt8(ascii: "{") {
                var id = FastTok.absent, name = FastTok.absent
                var seen: UInt32 = 0
                if try openObject() {
                    repeat {
                        switch try field(KeyTables.artist, &seen) {
                        case .id?: id = try tok()
                        case .name?: name = try tok()
                        case nil: try skipValue()
                        }
                    } while try fieldEnd()
                }
                if let artist = EntryFacts.artist(id: try stringOf(id), name: try stringOf(name)) {
                    if list.isEmpty { list.reserveCapacity(2) }
                    list.append(artist)
                } else {
                    ok = false
                }
            } else {
                try skipValue()
                ok = false
            }
        } while try elementEnd()
        return ok ? .ok(list) : .bad
    }

    // MARK: entry semantics (`parseEntryOrThrow`, success cases only)

    /// What `parseEntry` gives for the entry, when that is a track or an episode within
    /// `AnswerLimits`; nil for everything else (the caller parses the entry in full, and
    /// `parseEntry` rejects one over the limits).
    mutating func evaluate(_ e: FastEntry, position: Int) throws(JSONParseError) -> ParsedEntry? {
        let parsed: ParsedEntry?
        switch e.itemKind {
        case .object: parsed = try evaluate(e, item: e.item, position: position)
        case .other: return nil
        case .null, .absent:
            guard e.trackKind == .object else { return nil }
            parsed = try evaluate(e, item: e.track, position: position)
        }
        guard let parsed, !parsed.isOverAnswerLimits else { return nil }
        return parsed
    }

    mutating func evaluate(_ e: FastEntry, item: FastItem, position: Int) throws(JSONParseError) -> ParsedEntry? {
        var addedAt: String? = nil
        switch e.addedAt {
        case .absent, .null: break
        case .string:
            if let s = try stringOf(e.addedAt), let n = FastTimestamp.normalize(s) {
                addedAt = n
            } else {
                return nil
            }
        default: return nil
        }
        let addedBy = try nonEmptyString(e.addedByID)
        if case .bool(true) = item.isLocal { return nil }
        if case .bool(true) = e.isLocal, !item.id.isString { return nil }
        guard case .string(let ts, let te, true) = item.type else { return nil }
        let ctx = EntryContext(position: position, addedAt: addedAt, addedBy: addedBy)
        if bytes(ts, te - ts, are: "track") {
            let fields = try trackFields(item)
            guard let t = try? EntryFacts.track(fields) else { return nil }
            return .track(t, ctx)
        }
        if bytes(ts, te - ts, are: "episode") {
            let fields = try episodeFields(item)
            guard let ep = try? EntryFacts.episode(fields) else { return nil }
            return .episode(ep, ctx)
        }
        return nil
    }

    // The fields `EntryFacts` decides on, from the tokens.

    mutating func trackFields(_ t: FastItem) throws(JSONParseError) -> TrackFields {
        var album: AlbumFields? = nil
        if let a = t.album {
            album = AlbumFields(id: try stringOf(a.id), name: try stringOf(a.name), albumType: try stringOf(a.albumType),
                                totalTracks: a.totalTracks.intValue, releaseDate: try stringOf(a.releaseDate),
                                releaseDatePrecision: try stringOf(a.precision), artists: a.artists)
        }
        return TrackFields(id: try stringOf(t.id), name: try stringOf(t.name), durationMs: t.duration.intValue,
                           explicit: t.explicit.boolValue, discNumber: t.disc.intValue, trackNumber: t.trackNumber.intValue,
                           artists: t.artists, album: album, isrc: try stringOf(t.isrc), popularity: t.popularity.intValue,
                           uri: try stringOf(t.uri))
    }

    mutating func episodeFields(_ e: FastItem) throws(JSONParseError) -> EpisodeFields {
        var show: ShowFields? = nil
        if let sh = e.show { show = ShowFields(id: try stringOf(sh.id), name: try stringOf(sh.name)) }
        return EpisodeFields(id: try stringOf(e.id), name: try stringOf(e.name), durationMs: e.duration.intValue,
                             explicit: e.explicit.boolValue, show: show, releaseDate: try stringOf(e.releaseDate),
                             releaseDatePrecision: try stringOf(e.precision))
    }
}

extension JSONParser {
    /// The `/items` page decoded directly from its bytes (see `FastItemsPage.swift`), or nil
    /// when the general path must decide.
    static func fastItemsPage(_ buf: UnsafeBufferPointer<UInt8>, maxDepth: Int = defaultMaxDepth) -> FastPage? {
        var p = Parser(p: buf, maxDepth: maxDepth)
        return p.fastItemsPage()
    }
}
