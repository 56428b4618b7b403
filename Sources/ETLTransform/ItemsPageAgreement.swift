import ETLCore

/// The request an items page answers: which playlist, from which offset, how many at most.
public struct ItemsPageRequest: Sendable, Equatable {
    public var playlistID: String
    public var offset: Int
    public var limit: Int

    public init(playlistID: String, offset: Int, limit: Int) {
        self.playlistID = playlistID
        self.offset = offset
        self.limit = limit
    }
}

/// How an items page disagrees with the request that fetched it. The description names the
/// numbers that disagree; a quoted `next` URL is escaped and cut short, so it stays one safe line.
public enum PageDisagreement: Error, Sendable, Equatable, CustomStringConvertible {
    /// `total` is negative or above `ItemsPageAgreement.maxTotal`.
    case total(Int)
    /// The page starts somewhere else than asked.
    case offset(Int, expected: Int)
    /// `limit` is outside 1...the limit asked for (itself at most `ItemsPageAgreement.maxLimit`).
    case limit(Int, requested: Int)
    /// More items than the page's own `limit`.
    case itemCount(Int, limit: Int)
    /// The items run past `total`.
    case beyondTotal(offset: Int, count: Int, total: Int)
    /// No items, though `offset` is below `total`: following on would never get further.
    case emptyBeforeTotal(offset: Int, total: Int)
    /// No `next` although items remain.
    case nextMissing(expectedOffset: Int, total: Int)
    /// A `next` although the page holds the last item.
    case nextUnexpected(next: String)
    /// A `next` that is not this playlist's items (or tracks) from the following offset,
    /// with at most the limit asked for.
    case nextElsewhere(next: String, expected: String)

    public var description: String {
        switch self {
        case .total(let t):
            return "total \(t), expected 0...\(LogText.count(ItemsPageAgreement.maxTotal))"
        case .offset(let o, let expected):
            return "offset \(o), expected \(expected)"
        case .limit(let l, let requested):
            return "limit \(l), expected 1...\(requested)"
        case .itemCount(let n, let limit):
            return "\(n) items, more than its limit \(limit)"
        case .beyondTotal(let offset, let count, let total):
            return "\(count) items from offset \(offset) run past total \(total)"
        case .emptyBeforeTotal(let offset, let total):
            return "no items at offset \(offset), though total is \(total)"
        case .nextMissing(let offset, let total):
            return "no next, though items remain from offset \(offset) of total \(total)"
        case .nextUnexpected(let next):
            return "next \(Self.quoted(next)) after the last item"
        case .nextElsewhere(let next, let expected):
            return "next \(Self.quoted(next)), expected \(expected)"
        }
    }

    /// Network text as a description quotes it: escaped, at most 120 characters.
    static func quoted(_ text: String) -> String {
        LogText.quoted(text.count > 120 ? String(text.prefix(120)) + "…" : text)
    }
}

/// Whether an items page (of `/playlists/{id}/items`, the legacy `/tracks`, or the first page
/// embedded in `/playlists/{id}`) answers its request. Pure. A page that does not is not used:
/// its numbers would place entries at wrong positions, follow `next` in circles or elsewhere,
/// or size buffers from a hostile `total`.
public enum ItemsPageAgreement {
    /// The largest `total` believed. Spotify caps a playlist at 10,000 items; a thousand times
    /// that leaves room for any change of policy while keeping every count and position far
    /// from overflow.
    public static let maxTotal = 10_000_000
    /// The largest page size the API serves (the embedded first page uses it; /items asks 50).
    public static let maxLimit = 100
    /// The most entries a scan reserves room for up front, whatever `total` says: one
    /// full-size playlist. Larger scans grow as pages arrive.
    public static let reserveLimit = 10_000

    /// nil when the page agrees with `request`, else the first disagreement found.
    public static func check(_ page: ParsedItemsPage, against request: ItemsPageRequest) -> PageDisagreement? {
        check(offset: page.offset, limit: page.limit, total: page.total, count: page.entries.count, next: page.next,
              against: request)
    }

    /// As `check(_:against:)` for a page whose entries are not parsed yet (the embedded one).
    public static func check(_ page: ItemsPage, against request: ItemsPageRequest) -> PageDisagreement? {
        check(offset: page.offset, limit: page.limit, total: page.total, count: page.entries.count, next: page.next,
              against: request)
    }

    /// The rules, in order: `offset` as asked; `total` in 0...`maxTotal`; `limit` in
    /// 1...the limit asked (≤ `maxLimit`); at most `limit` items; none past `total`; at
    /// least one while `offset < total`; `next` present exactly when `offset + count < total`,
    /// and then naming the same playlist's items from `offset + count`.
    public static func check(offset: Int, limit: Int, total: Int, count: Int, next: String?,
                             against request: ItemsPageRequest) -> PageDisagreement? {
        guard offset == request.offset else { return .offset(offset, expected: request.offset) }
        guard (0...maxTotal).contains(total) else { return .total(total) }
        let asked = min(request.limit, maxLimit)
        guard (1...max(asked, 1)).contains(limit) else { return .limit(limit, requested: asked) }
        guard count <= limit else { return .itemCount(count, limit: limit) }
        // offset == request.offset, which this process computed from agreeing pages: bounded.
        let end = offset + count
        guard end <= total else { return .beyondTotal(offset: offset, count: count, total: total) }
        guard count > 0 || offset >= total else { return .emptyBeforeTotal(offset: offset, total: total) }
        switch (next, end < total) {
        case (nil, false):
            return nil
        case (nil, true):
            return .nextMissing(expectedOffset: end, total: total)
        case (let next?, false):
            return .nextUnexpected(next: next)
        case (let next?, true):
            let expected = "playlist \(request.playlistID) from offset \(end), limit ≤ \(asked)"
            guard let target = target(of: next), target.playlistID == request.playlistID, target.offset == end,
                  (1...asked).contains(target.limit ?? asked)
            else { return .nextElsewhere(next: next, expected: expected) }
            return nil
        }
    }

    /// The request a page's `next` stands for, once the page agreed with `request`: the
    /// following offset, the limit `next` names (else the one asked).
    public static func request(after page: ParsedItemsPage, _ request: ItemsPageRequest) -> ItemsPageRequest {
        let limit = page.next.flatMap { target(of: $0)?.limit } ?? request.limit
        return ItemsPageRequest(playlistID: request.playlistID, offset: request.offset + page.entries.count, limit: limit)
    }

    /// Playlist id, `offset` and `limit` of a `…/playlists/{id}/items?…` (or `/tracks`) URL;
    /// nil when it is not one, or its offset or limit is not a plain number. Read as UTF-8
    /// bytes: every delimiter is ASCII, and this runs once per page.
    static func target(of url: String) -> (playlistID: String, offset: Int, limit: Int?)? {
        var url = url
        return url.withUTF8 { u -> (playlistID: String, offset: Int, limit: Int?)? in
            guard let pathStart = end(of: "/playlists/", in: u) else { return nil }
            let queryMark = u[pathStart...].firstIndex(of: UInt8(ascii: "?")) ?? u.count
            guard let slash = u[pathStart..<queryMark].firstIndex(of: UInt8(ascii: "/")) else { return nil }
            let segment = u[(slash + 1)..<queryMark]
            guard segment.elementsEqual("items".utf8) || segment.elementsEqual("tracks".utf8),
                  let id = percentDecoded(u[pathStart..<slash]), !id.isEmpty else { return nil }
            var offset: Int?
            var limit: Int?
            if queryMark < u.count {
                for pair in u[(queryMark + 1)...].split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
                    guard let eq = pair.firstIndex(of: UInt8(ascii: "=")) else { continue }
                    let key = pair[..<eq], value = pair[(eq + 1)...]
                    let isOffset = key.elementsEqual("offset".utf8)
                    guard isOffset || key.elementsEqual("limit".utf8) else { continue }
                    // Plain digits only, at most 9 of them: no sign, no overflow.
                    guard (1...9).contains(value.count), value.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
                    let n = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
                    if isOffset { offset = n } else { limit = n }
                }
            }
            // Spotify always names the offset; a missing one means 0, as the API reads it.
            return (id, offset ?? 0, limit)
        }
    }

    /// The index just past the first occurrence of `needle` in `u`.
    private static func end(of needle: StaticString, in u: UnsafeBufferPointer<UInt8>) -> Int? {
        let n = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard n.count <= u.count else { return nil }
        for i in 0...(u.count - n.count) where u[i] == n[0] && u[i..<(i + n.count)].elementsEqual(n) {
            return i + n.count
        }
        return nil
    }

    /// `%XX` escapes decoded; nil when one is malformed or the result is not UTF-8.
    private static func percentDecoded(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> String? {
        guard s.contains(UInt8(ascii: "%")) else { return String(validating: s, as: UTF8.self) }
        var out: [UInt8] = []
        var bytes = s.makeIterator()
        func hex(_ c: UInt8?) -> UInt8? {
            guard let c else { return nil }
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        while let c = bytes.next() {
            if c == UInt8(ascii: "%") {
                guard let hi = hex(bytes.next()), let lo = hex(bytes.next()) else { return nil }
                out.append(hi << 4 | lo)
            } else {
                out.append(c)
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}
