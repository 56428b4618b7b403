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
// `LeanPageTests` compares the result with the full decode on thousands of corrupted pages.

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
        do {
            skipWS()
            guard i < p.count, p[i] == UInt8(ascii: "{") else { return nil }
            var page = FastPage(entries: [])
            page.positionBase = guessedOffset()
            var seen: UInt32 = 0
            var haveItems = false
            if try openObject() {
                repeat {
                    let (s, n) = try fieldKey()
                    if key(s, n, "items") {
                        if first(&seen, 1) {
                            guard i < p.count, p[i] == UInt8(ascii: "[") else { return nil }
                            try fastEntries(&page)
                            haveItems = true
                        } else { try skipValue() }
                    } else if key(s, n, "total") {
                        if first(&seen, 2) { page.total = try tok() } else { try skipValue() }
                    } else if key(s, n, "offset") {
                        if first(&seen, 4) { page.offset = try tok() } else { try skipValue() }
                    } else if key(s, n, "limit") {
                        if first(&seen, 8) { page.limit = try tok() } else { try skipValue() }
                    } else if key(s, n, "next") {
                        if first(&seen, 16) { page.next = try tok() } else { try skipValue() }
                    } else {
                        try skipValue()
                    }
                } while try fieldEnd()
            }
            skipWS()
            guard i == p.count, haveItems else { return nil }
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

    @inline(__always)
    func key(_ s: Int, _ n: Int, _ k: StaticString) -> Bool {
        n == k.utf8CodeUnitCount && memcmp(p.baseAddress! + s, k.utf8Start, n) == 0
    }

    /// True the first time a key's bit is seen in an object (the first occurrence wins).
    @inline(__always)
    func first(_ seen: inout UInt32, _ bit: UInt32) -> Bool {
        if seen & bit != 0 { return false }
        seen |= bit
        return true
    }

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
            let (s, n) = try fieldKey()
            if key(s, n, "item") {
                if first(&e.seen, 1) {
                    let start = i
                    e.itemKind = try itemSlot(&e.item)
                    if e.itemKind == .object { itemBytes = start..<i }
                } else { try skipValue() }
            } else if key(s, n, "track") {
                if first(&e.seen, 2) {
                    // Usually `item` again, byte for byte: same bytes at the same depth parse
                    // (and validate) identically. `item` is then an object, so `track` is not
                    // read (only its kind is kept).
                    if let r = itemBytes, i + r.count <= p.count, memcmp(p.baseAddress! + i, p.baseAddress! + r.lowerBound, r.count) == 0 {
                        i += r.count
                        e.trackKind = .object
                    } else {
                        e.trackKind = try itemSlot(&e.track)
                    }
                } else { try skipValue() }
            } else if key(s, n, "added_at") {
                if first(&e.seen, 4) { e.addedAt = try tok() } else { try skipValue() }
            } else if key(s, n, "added_by") {
                if first(&e.seen, 8) {
                    if i < p.count, p[i] == UInt8(ascii: "{") { e.addedByID = try idOnly() } else { try skipValue() }
                } else { try skipValue() }
            } else if key(s, n, "is_local") {
                if first(&e.seen, 16) { e.isLocal = try tok() } else { try skipValue() }
            } else {
                try skipValue()
            }
        } while try fieldEnd()
    }

    /// An object of which only the first `id` is read.
    mutating func idOnly() throws(JSONParseError) -> FastTok {
        var id = FastTok.absent
        var seen: UInt32 = 0
        guard try openObject() else { return id }
        repeat {
            let (s, n) = try fieldKey()
            if key(s, n, "id"), first(&seen, 1) { id = try tok() } else { try skipValue() }
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
            let (s, n) = try fieldKey()
            switch n {
            case 2 where key(s, n, "id"):
                if first(&t.seen, 1 << 0) { t.id = try tok() } else { try skipValue() }
            case 3 where key(s, n, "uri"):
                if first(&t.seen, 1 << 1) { t.uri = try tok() } else { try skipValue() }
            case 4 where key(s, n, "name"):
                if first(&t.seen, 1 << 2) { t.name = try tok() } else { try skipValue() }
            case 4 where key(s, n, "type"):
                if first(&t.seen, 1 << 3) { t.type = try tok() } else { try skipValue() }
            case 4 where key(s, n, "show"):
                if first(&t.seen, 1 << 4), i < p.count, p[i] == UInt8(ascii: "{") { t.show = try showObject() } else { try skipValue() }
            case 5 where key(s, n, "album"):
                if first(&t.seen, 1 << 5), i < p.count, p[i] == UInt8(ascii: "{") { t.album = try albumObject() } else { try skipValue() }
            case 7 where key(s, n, "artists"):
                if first(&t.seen, 1 << 6) { t.artists = try artists() } else { try skipValue() }
            case 8 where key(s, n, "is_local"):
                if first(&t.seen, 1 << 7) { t.isLocal = try tok() } else { try skipValue() }
            case 8 where key(s, n, "explicit"):
                if first(&t.seen, 1 << 8) { t.explicit = try tok() } else { try skipValue() }
            case 10 where key(s, n, "popularity"):
                if first(&t.seen, 1 << 9) { t.popularity = try tok() } else { try skipValue() }
            case 11 where key(s, n, "disc_number"):
                if first(&t.seen, 1 << 10) { t.disc = try tok() } else { try skipValue() }
            case 11 where key(s, n, "duration_ms"):
                if first(&t.seen, 1 << 11) { t.duration = try tok() } else { try skipValue() }
            case 12 where key(s, n, "external_ids"):
                if first(&t.seen, 1 << 12), i < p.count, p[i] == UInt8(ascii: "{") { t.isrc = try isrcOnly() } else { try skipValue() }
            case 12 where key(s, n, "release_date"):
                if first(&t.seen, 1 << 13) { t.releaseDate = try tok() } else { try skipValue() }
            case 12 where key(s, n, "track_number"):
                if first(&t.seen, 1 << 14) { t.trackNumber = try tok() } else { try skipValue() }
            case 22 where key(s, n, "release_date_precision"):
                if first(&t.seen, 1 << 15) { t.precision = try tok() } else { try skipValue() }
            default:
                try skipValue()
            }
        } while try fieldEnd()
    }

    mutating func isrcOnly() throws(JSONParseError) -> FastTok {
        var isrc = FastTok.absent
        var seen: UInt32 = 0
        guard try openObject() else { return isrc }
        repeat {
            let (s, n) = try fieldKey()
            if key(s, n, "isrc"), first(&seen, 1) { isrc = try tok() } else { try skipValue() }
        } while try fieldEnd()
        return isrc
    }

    mutating func showObject() throws(JSONParseError) -> FastShow {
        var sh = FastShow()
        guard try openObject() else { return sh }
        repeat {
            let (s, n) = try fieldKey()
            if key(s, n, "id") {
                if first(&sh.seen, 1) { sh.id = try tok() } else { try skipValue() }
            } else if key(s, n, "name") {
                if first(&sh.seen, 2) { sh.name = try tok() } else { try skipValue() }
            } else {
                try skipValue()
            }
        } while try fieldEnd()
        return sh
    }

    mutating func albumObject() throws(JSONParseError) -> FastAlbum {
        var a = FastAlbum()
        guard try openObject() else { return a }
        repeat {
            let (s, n) = try fieldKey()
            if key(s, n, "id") {
                if first(&a.seen, 1) { a.id = try tok() } else { try skipValue() }
            } else if key(s, n, "name") {
                if first(&a.seen, 2) { a.name = try tok() } else { try skipValue() }
            } else if key(s, n, "album_type") {
                if first(&a.seen, 4) { a.albumType = try tok() } else { try skipValue() }
            } else if key(s, n, "total_tracks") {
                if first(&a.seen, 8) { a.totalTracks = try tok() } else { try skipValue() }
            } else if key(s, n, "release_date") {
                if first(&a.seen, 16) { a.releaseDate = try tok() } else { try skipValue() }
            } else if key(s, n, "release_date_precision") {
                if first(&a.seen, 32) { a.precision = try tok() } else { try skipValue() }
            } else if key(s, n, "artists") {
                if first(&a.seen, 64) { a.artists = try artists() } else { try skipValue() }
            } else {
                try skipValue()
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
                        let (s, n) = try fieldKey()
                        if key(s, n, "id") {
                            if first(&seen, 1) { id = try tok() } else { try skipValue() }
                        } else if key(s, n, "name") {
                            if first(&seen, 2) { name = try tok() } else { try skipValue() }
                        } else {
                            try skipValue()
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
        if key(ts, te - ts, "track") {
            let fields = try trackFields(item)
            guard let t = try? EntryFacts.track(fields) else { return nil }
            return .track(t, ctx)
        }
        if key(ts, te - ts, "episode") {
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
