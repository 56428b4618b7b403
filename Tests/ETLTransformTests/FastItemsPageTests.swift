import ETLCore
import Foundation
import XCTest
@testable import ETLTransform

/// The direct decoder behind `decodeParsedItemsPage` (`FastItemsPage.swift`) must give exactly
/// what `decodeItemsPage` + `parseEntry` give. `ItemsPageDecodeTests` compares the two on byte-level
/// corruptions; this compares them on structural ones — every read key's value replaced by
/// values of other types and shapes, removed, repeated, renamed, its key escaped; strings with
/// escapes, decomposed accents and padding — on pages shaped as the daemon receives them
/// (filtered by `ItemFields`, `json.dumps` spacing) and as full API pages, and pins the outcomes
/// of the hazards a direct decoder most plausibly gets wrong.
final class FastItemsPageTests: XCTestCase {
    private func reference(_ body: [UInt8]) -> Result<ParsedItemsPage, TransformError> { PageDecodings.reference(body) }
    private func decoded(_ body: [UInt8]) -> Result<ParsedItemsPage, TransformError> { PageDecodings.decoded(body) }

    // MARK: an ordered JSON tree whose keys are kept as written (escapes included)

    indirect enum J {
        case raw(String)
        case arr([J])
        case obj([(key: String, value: J)])

        init(_ v: JSONValue) {
            switch v {
            case .array(let a): self = .arr(a.map(J.init))
            case .object(let o):
                self = .obj(o.map { f in
                    var out: [UInt8] = []
                    JSONText.appendString(f.key, to: &out)
                    return (String(decoding: out.dropFirst().dropLast(), as: UTF8.self), J(f.value))
                })
            default: self = .raw(v.canonicalText)
            }
        }

        func text(spaced: Bool) -> String {
            let comma = spaced ? ", " : ",", colon = spaced ? ": " : ":"
            switch self {
            case .raw(let s): return s
            case .arr(let a): return "[" + a.map { $0.text(spaced: spaced) }.joined(separator: comma) + "]"
            case .obj(let o): return "{" + o.map { "\"\($0.key)\"\(colon)\($0.value.text(spaced: spaced))" }.joined(separator: comma) + "}"
            }
        }

        /// Paths (indices through arrays and object fields) of every object field.
        func fieldPaths(_ prefix: [Int] = []) -> [[Int]] {
            switch self {
            case .raw: return []
            case .arr(let a): return a.enumerated().flatMap { $0.element.fieldPaths(prefix + [$0.offset]) }
            case .obj(let o):
                return o.enumerated().flatMap { [prefix + [$0.offset]] + $0.element.value.fieldPaths(prefix + [$0.offset]) }
            }
        }

        /// Applies `f` to the object holding the field at `path` and the field's index.
        func editing(_ path: [Int], _ f: (inout [(key: String, value: J)], Int) -> Void) -> J {
            guard let head = path.first else { return self }
            switch self {
            case .raw: return self
            case .arr(var a):
                a[head] = a[head].editing(Array(path.dropFirst()), f)
                return .arr(a)
            case .obj(var o):
                if path.count == 1 { f(&o, head) } else { o[head].value = o[head].value.editing(Array(path.dropFirst()), f) }
                return .obj(o)
            }
        }
    }

    // MARK: corpus

    /// Entries as the daemon receives them (`ItemFields.items`, the emulator's spacing).
    static let filteredEntries: [String] = [
        #"{"added_at": "2025-02-03T04:05:06Z", "added_by": {"id": "emu_owner"}, "is_local": false, "item": {"album": {"album_type": "album", "artists": [{"id": "R0000000000000000000a1", "name": "Artist 1"}], "id": "L0000000000000000000b2", "name": "Album 2", "release_date": "2021-03-05", "release_date_precision": "day", "total_tracks": 10}, "artists": [{"id": "R0000000000000000000a1", "name": "Artist 1"}, {"id": "R0000000000000000000c3", "name": "Artíst 3 ✓"}], "disc_number": 1, "duration_ms": 213573, "explicit": true, "external_ids": {"isrc": "QZ12345678901"}, "id": "T0000000000000000000d4", "is_local": false, "name": "Song 4 — “quoted” \\ café", "popularity": 42, "track_number": 3, "type": "track", "uri": "spotify:track:T0000000000000000000d4"}}"#,
        #"{"added_at": "2025-02-03T04:05:07Z", "added_by": {"id": "emu_owner"}, "is_local": false, "item": {"album": {"album_type": "single", "artists": [{"id": "R0000000000000000000a5", "name": "Artist 5"}], "id": "L0000000000000000000b6", "name": "Album 6", "release_date": "2021", "release_date_precision": "year", "total_tracks": 1}, "artists": [{"id": "R0000000000000000000a5", "name": "Artist 5"}], "disc_number": 2, "duration_ms": 120000, "explicit": false, "external_ids": {"isrc": "QZ12345678902"}, "id": "T0000000000000000000d7", "is_local": false, "name": "Song 7", "track_number": 12, "type": "track", "uri": "spotify:track:T0000000000000000000d7"}}"#,
        #"{"added_at": "2025-02-03T04:05:08Z", "added_by": {"id": "emu_owner"}, "is_local": false, "item": {"duration_ms": 600000, "explicit": false, "id": "E0000000000000000000e8", "name": "Episode 8", "release_date": "2025-01-18", "release_date_precision": "day", "show": {"id": "S0000000000000000000f9", "name": "Show 9"}, "type": "episode", "uri": "spotify:episode:E0000000000000000000e8"}}"#,
        #"{"added_at": "2025-02-03T04:05:09Z", "added_by": {"id": "emu_owner"}, "is_local": true, "item": {"album": {"album_type": null, "artists": [], "id": null, "name": "Local Album", "release_date": null, "release_date_precision": null}, "artists": [{"id": null, "name": "Local Artist 1"}], "disc_number": 0, "duration_ms": 181000, "explicit": false, "external_ids": {}, "id": null, "is_local": true, "name": "Local Song 1", "popularity": 0, "track_number": 0, "type": "track", "uri": "spotify:local:Local+Artist+1:Local+Album:Local+Song+1:181"}}"#,
        #"{"added_at": "2025-02-03T04:05:10Z", "added_by": {"id": "emu_owner"}, "is_local": false, "item": null}"#,
    ]

    static let alternatives: [String] = [
        "null", "true", "false", "0", "1", "-1", "2.5", "3.0", "1e2", "-0", "12345678901234567890", "-9223372036854775808",
        #""""#, #""x""#, #""track""#, #""episode""#, #""TRACK""#, #""tr\u0061ck""#, #""track ""#, #""spotify:local:a:b:c:1""#,
        #""spotify:track:x""#, #""2026-01-01T00:00:00Z""#, #""2026-01-01T00:00:00.123+02:00""#, #""2026-01-01""#, #""1999""#,
        #""1999-13""#, #""1999-12""#, #""1999-12-31""#, #""day""#, #""year""#, #""month""#, #""  padded ""#,
        #""Cafe\u0301""#, "\"Cafe\u{301}\"", #""ALBUM""#, #""a\"b\\c\/d\n""#, #""\ud83c\udfb5""#, "[]", "[{}]", "[null]",
        #"[{"id": "a", "name": "b"}]"#, #"[{"id": "", "name": "b"}]"#, #"[{"id": "a"}]"#, #"[{"name": "b", "id": "a", "id": "z"}]"#,
        "{}", #"{"id": "i", "name": "n"}"#, #"{"id": ""}"#, #"{"isrc": "X"}"#, #"{"isrc": ""}"#, #"{"\u0069d": "esc"}"#,
        // Over `AnswerLimits`: a string of 66,000 UTF-8 bytes (33,000 characters), 257 artists.
        "\"" + String(repeating: "é", count: 33_000) + "\"",
        "[" + (0...AnswerLimits.artistsPerList).map { #"{"id": "a\#($0)", "name": "n"}"# }.joined(separator: ", ") + "]",
    ]

    /// Every key the readers read (`ItemsPageKeys`), plus two they do not.
    static let readKeys = ItemsPageKeys.allNames.sorted() + ["href", "zzz"]

    struct RNG {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
    }

    /// One structural mutation of an entry tree.
    static func mutate(_ j: J, _ rng: inout RNG) -> J {
        let paths = j.fieldPaths()
        guard !paths.isEmpty else { return j }
        let path = paths[rng.next(paths.count)]
        let alt = alternatives[rng.next(alternatives.count)]
        let otherKey = readKeys[rng.next(readKeys.count)]
        let kind = rng.next(8)
        return j.editing(path) { o, k in
            switch kind {
            case 0, 1: o[k].value = .raw(alt)                                 // another value
            case 2: o.remove(at: k)                                           // absent
            case 3: o.insert((o[k].key, .raw(alt)), at: k + 1)                // repeated: first wins
            case 4: o.insert((o[k].key, .raw(alt)), at: k)                    // repeated: the new one first
            case 5:                                                           // key written with an escape
                let key = o[k].key
                if let c = key.unicodeScalars.first, c.isASCII {
                    let hex = String(c.value, radix: 16)
                    o[k].key = "\\u00" + (hex.count == 1 ? "0" : "") + hex + String(key.unicodeScalars.dropFirst())
                }
            case 6: o[k].key = otherKey                                       // renamed
            default: o.insert((otherKey, .raw(alt)), at: k)                   // another key added
            }
        }
    }

    /// Base entries: the filtered shape and the full API shape (`ItemsPageDecodeTests.entries`).
    static var baseEntries: [J] {
        (filteredEntries + ItemsPageDecodeTests.entries).map { J(try! JSONParser.parse($0)) }
    }

    /// Seeded pages of 1–4 entries, most of them mutated 1–3 times, now and then a page-level
    /// mutation too; filtered pages with `json.dumps` spacing, others compact.
    static func corpus(count: Int) -> [[UInt8]] {
        let bases = baseEntries
        var rng = RNG(state: 0x5EED_F00D_1234_5678)
        var pages: [[UInt8]] = []
        for _ in 0..<count {
            var entries: [J] = []
            for _ in 0..<(1 + rng.next(4)) {
                var e = bases[rng.next(bases.count)]
                if rng.next(5) != 0 { for _ in 0..<(1 + rng.next(3)) { e = mutate(e, &rng) } }
                entries.append(e)
            }
            let offset = rng.next(3) == 0 ? 0 : rng.next(1000)
            var page = J.obj([("items", .arr(entries)), ("limit", .raw("50")), ("next", .raw(#""https://api.spotify.com/v1/x?offset=1""#)),
                              ("offset", .raw("\(offset)")), ("total", .raw("\(offset + 100)"))])
            if rng.next(10) == 0 {
                let pagePaths = [[0], [1], [2], [3], [4]]
                var r = rng
                page = page.editing(pagePaths[rng.next(pagePaths.count)]) { o, k in
                    switch r.next(4) {
                    case 0: o[k].value = .raw(alternatives[r.next(alternatives.count)])
                    case 1: o.remove(at: k)
                    case 2: o.insert((o[k].key, .raw(alternatives[r.next(alternatives.count)])), at: k)
                    default: o.insert(("href", .raw(#""h""#)), at: k)
                    }
                }
                rng = r
            }
            pages.append(Array(page.text(spaced: rng.next(2) == 0).utf8))
        }
        return pages
    }

    func testSameResultsAsTheFullDecodeOnStructurallyMutatedPages() {
        var direct = 0, general = 0, pagesFallenBack = 0, rejects = 0, failures = 0, tooLarge = 0
        for page in Self.corpus(count: 4000) {
            let expected = reference(page)
            XCTAssertEqual(decoded(page), expected, String(decoding: page, as: UTF8.self))
            if let c = fastItemsPageCounts(page) { direct += c.direct; general += c.general } else { pagesFallenBack += 1 }
            switch expected {
            case .success(let p):
                rejects += p.entries.filter { if case .reject = $0 { return true } else { return false } }.count
                tooLarge += p.entries.filter { if case .reject(RejectReason.entryTooLarge, _, _) = $0 { return true } else { return false } }.count
            case .failure: failures += 1
            }
        }
        print("FastItemsPageTests: \(direct) entries direct, \(general) general, \(pagesFallenBack) pages to the general path, \(rejects) rejects (\(tooLarge) too large), \(failures) errors")
        // Both paths and the outcomes that matter are exercised.
        XCTAssertGreaterThan(direct, 3000, "entries decoded directly")
        XCTAssertGreaterThan(general, 1000, "entries left to the full parse")
        XCTAssertGreaterThan(pagesFallenBack, 50, "pages given to the general path")
        XCTAssertGreaterThan(rejects, 1000)
        XCTAssertGreaterThan(tooLarge, 5, "entries over AnswerLimits")
        XCTAssertGreaterThan(failures, 20)
    }

    /// The three ways a direct decoder is most plausibly wrong, each pinned by its expected
    /// outcome on a page the daemon could receive (and equal to the full decode): a repeated
    /// key's first value wins, an `added_at` that is not a timestamp is a reject, an empty id
    /// is a reject.
    func testRepeatedKeysInvalidAddedAtAndEmptyIDs() throws {
        func page(_ entry: String) -> [UInt8] {
            Array(#"{"items": [\#(entry)], "limit": 50, "next": null, "offset": 0, "total": 1}"#.utf8)
        }
        let base = Self.filteredEntries[1]
        // "name" twice in the track: the first one is the track's name.
        let repeated = page(base.replacingOccurrences(of: #""name": "Song 7""#, with: #""name": "Song 7", "name": "Later""#))
        XCTAssertEqual(try XCTUnwrap(fastItemsPageCounts(repeated)).direct, 1)
        guard case .track(let t, _) = try decodeParsedItemsPage(repeated).entries[0] else { return XCTFail("not a track") }
        XCTAssertEqual(t.name, "Song 7")
        XCTAssertEqual(decoded(repeated), reference(repeated))

        let badAddedAt = page(base.replacingOccurrences(of: "2025-02-03T04:05:07Z", with: "yesterday"))
        guard case .reject(let r1, _, _) = try decodeParsedItemsPage(badAddedAt).entries[0] else { return XCTFail("not a reject") }
        XCTAssertEqual(r1, RejectReason.invalidAddedAt)
        XCTAssertEqual(decoded(badAddedAt), reference(badAddedAt))

        let emptyID = page(base.replacingOccurrences(of: #""id": "T0000000000000000000d7""#, with: #""id": """#))
        guard case .reject(let r2, _, _) = try decodeParsedItemsPage(emptyID).entries[0] else { return XCTFail("not a reject") }
        XCTAssertEqual(r2, RejectReason.missingID)
        XCTAssertEqual(decoded(emptyID), reference(emptyID))
    }

    /// Pages as the daemon receives them are decoded directly, except what must be rejected
    /// or is a local file.
    func testFilteredPagesAreDecodedDirectly() throws {
        let entries = Self.filteredEntries.map { J(try! JSONParser.parse($0)) }
        let body = Array(J.obj([("items", .arr(entries)), ("limit", .raw("50")), ("next", .raw("null")),
                                ("offset", .raw("100")), ("total", .raw("105"))]).text(spaced: true).utf8)
        let counts = try XCTUnwrap(fastItemsPageCounts(body))
        XCTAssertEqual(counts.direct, 3)   // two tracks, one episode
        XCTAssertEqual(counts.general, 2)  // the local file, the null item
        let page = try decodeParsedItemsPage(body)
        XCTAssertEqual(Result<ParsedItemsPage, TransformError>.success(page), reference(body))
        guard case .track(let t, let c) = page.entries[0] else { return XCTFail("not a track") }
        XCTAssertEqual(c, EntryContext(position: 100, addedAt: "2025-02-03T04:05:06Z", addedBy: "emu_owner"))
        XCTAssertEqual(t.name, "Song 4 — “quoted” \\ café")
        XCTAssertEqual(t.artists.map(\.name), ["Artist 1", "Artíst 3 ✓"])
        XCTAssertEqual(t.album.releaseDate, "2021-03-05")
        guard case .local(_, let lc) = page.entries[3] else { return XCTFail("not a local file") }
        XCTAssertEqual(lc.position, 103)
        guard case .reject(let reason, _, let position) = page.entries[4] else { return XCTFail("not a reject") }
        XCTAssertEqual(reason, RejectReason.unavailable)
        XCTAssertEqual(position, 104)
        XCTAssertEqual(page.total, 105)
        XCTAssertNil(page.next)
        // The full API shape (item and track alias, unread keys) is decoded directly as well.
        let full = Array(Fixtures.page([Fixtures.entry(Fixtures.track()), Fixtures.entry(Fixtures.episode())]).utf8)
        XCTAssertEqual(fastItemsPageCounts(full)?.direct, 2)
    }

    /// Nesting around the depth limit, in an unread key of an entry the direct decoder reads:
    /// it fails exactly where the full parse fails (then the general path gives the error).
    func testDepthLimitAsTheFullParse() {
        let entry = Self.filteredEntries[0]
        var outcomes: Set<Bool> = []
        for n in 120...130 {
            let deep = String(repeating: "[", count: n) + String(repeating: "]", count: n)
            let e = entry.replacing(#""is_local": false, "item""#, with: #""is_local": false, "zzz": \#(deep), "item""#)
            let body = Array(#"{"items": [\#(e)], "offset": 0, "total": 1}"#.utf8)
            let expected = reference(body)
            XCTAssertEqual(decoded(body), expected, "depth \(n)")
            if case .success = expected { outcomes.insert(true) } else { outcomes.insert(false) }
            XCTAssertEqual(fastItemsPageCounts(body)?.direct, (try? expected.get()) != nil ? 1 : nil, "depth \(n)")
        }
        XCTAssertEqual(outcomes, [true, false], "both sides of the limit")
    }

    /// Positions are offset + index whatever the guess of the offset made before parsing:
    /// a repeated `offset` (the first wins), an `offset` before `items`, a decoy near the end.
    func testPositionsWhenTheOffsetGuessIsWrong() throws {
        let e = Self.filteredEntries[0], f = Self.filteredEntries[2]
        for body in [#"{"items": [\#(e), \#(f)], "offset": 5, "total": 20, "offset": 9}"#,
                     #"{"offset": 7, "items": [\#(e), \#(f)], "total": 20}"#,
                     #"{"offset": 7, "items": [\#(e), \#(f)], "total": 20, "next": "?\"offset\": 3"}"#,
                     #"{"items": [\#(e), \#(f)], "total": 20, "offset": 12}"#] {
            let bytes = Array(body.utf8)
            XCTAssertEqual(fastItemsPageCounts(bytes)?.direct, 2, body)
            let page = try decodeParsedItemsPage(bytes)
            XCTAssertEqual(Result<ParsedItemsPage, TransformError>.success(page), reference(bytes), body)
            guard case .track(_, let c0) = page.entries[0], case .episode(_, let c1) = page.entries[1] else { return XCTFail(body) }
            XCTAssertEqual([c0.position, c1.position], [page.offset, page.offset + 1], body)
            XCTAssertNotEqual(page.offset, 0)
        }
    }

    /// A page-level key written with an escape is valid JSON the direct decoder leaves to the
    /// general path.
    func testEscapedPageKeyGoesToTheGeneralPath() throws {
        let body = Array(#"{"\u0069tems": [\#(Self.filteredEntries[0])], "offset": 3, "total": 4}"#.utf8)
        XCTAssertNil(fastItemsPageCounts(body))
        let page = try decodeParsedItemsPage(body)
        XCTAssertEqual(Result<ParsedItemsPage, TransformError>.success(page), reference(body))
        XCTAssertEqual(page.entries.count, 1)
    }
}

/// `TextCleaning.releaseDate` returns the raw text (padded) as the date instead of formatting
/// it again from the parsed numbers; same results as the previous formatting, on every shape.
final class ReleaseDateTests: XCTestCase {
    /// The previous implementation, kept as the oracle.
    private func previous(_ raw: String, precision: String?) -> (date: String, precision: String, year: Int)? {
        let u = Array(raw.utf8)
        func digits(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= u.count else { return nil }
            var v = 0
            for k in a..<(a + n) { guard u[k] >= 48 && u[k] <= 57 else { return nil }; v = v * 10 + Int(u[k] - 48) }
            return v
        }
        let inferred: String
        switch u.count {
        case 4: inferred = "year"
        case 7: inferred = "month"
        case 10: inferred = "day"
        default: return nil
        }
        let prec = precision ?? inferred
        guard prec == inferred, let y = digits(0, 4) else { return nil }
        var m = 1, d = 1
        if u.count >= 7 { guard u[4] == 45, let mm = digits(5, 2), (1...12).contains(mm) else { return nil }; m = mm }
        if u.count == 10 { guard u[7] == 45, let dd = digits(8, 2), (1...31).contains(dd) else { return nil }; d = dd }
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let yyyy = String(decoding: u[0..<4], as: UTF8.self)
        return ("\(yyyy)-\(two(m))-\(two(d))", prec, y)
    }

    func testSameAsThePreviousFormatting() {
        var inputs: [String] = ["", "1", "199", "19999", "abcd", "0000", "1999", "2026", "1999-1", "1999-1x", "19991-2-03",
                                "1999-12-3", "1999-12-3x", "1999/12/31", "1999-12-31 ", " 1999-12-31", "١٩٩٩", "1999-٠١"]
        for y in ["0000", "1987", "2026", "20x6"] {
            for m in ["00", "01", "09", "10", "12", "13", "1a", "-1", " 1"] {
                inputs.append("\(y)-\(m)")
                for d in ["00", "01", "09", "10", "29", "31", "32", "3 ", "+1"] { inputs.append("\(y)-\(m)-\(d)") }
            }
        }
        var accepted = 0
        for raw in inputs {
            for precision in [nil, "year", "month", "day", "DAY", ""] as [String?] {
                let now = TextCleaning.releaseDate(raw, precision: precision), before = previous(raw, precision: precision)
                XCTAssertEqual(now?.date, before?.date, "\(raw) \(String(describing: precision))")
                XCTAssertEqual(now?.precision, before?.precision, raw)
                XCTAssertEqual(now?.year, before?.year, raw)
                if let now { accepted += 1; XCTAssertEqual(Array(now.date.utf8).count, 10, raw) }
            }
        }
        XCTAssertGreaterThan(accepted, 100)
    }
}

/// `FastTimestamp.normalize` returns a timestamp already in contract form as it is; the same
/// result as parsing and formatting it, on every day of leap and common years and at the
/// edges of each field.
final class CanonicalTimestampTests: XCTestCase {
    func testSameAsParsingAndFormatting() {
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var inputs: [String] = []
        for y in ["0000", "0001", "0004", "0100", "1900", "1969", "1970", "2000", "2023", "2024", "2100", "2400", "9999"] {
            for mo in 0...13 {
                for d in 0...32 {
                    let time = ["00:00:00", "23:59:59", "12:34:56", "23:59:60", "24:00:00", "00:60:00"][(mo + d) % 6]
                    inputs.append("\(y)-\(two(mo))-\(two(d))T\(time)Z")
                }
            }
        }
        inputs += ["2026-01-01t00:00:00Z", "2026-01-01T00:00:00z", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00+00:00",
                   "2026-01-01T00:00:00", "2026-01-01 00:00:00Z", "2026-1-01T00:00:00Z", "2026-01-01T00:00:0xZ", "",
                   "2026-01-01T00:00:00ZZ", "２０２６-01-01T00:00:00Z"]
        var canonical = 0
        for s in inputs {
            let before = Timestamp.parse(s).map { FastTimestamp.iso(epochSeconds: $0) }
            XCTAssertEqual(FastTimestamp.normalize(s), before, s)
            if FastTimestamp.isCanonical(s) {
                canonical += 1
                XCTAssertEqual(before, s, s)
            }
        }
        XCTAssertGreaterThan(canonical, 1000, "the shortcut is taken")
        XCTAssertFalse(FastTimestamp.isCanonical("2023-02-29T00:00:00Z"))
        XCTAssertTrue(FastTimestamp.isCanonical("2024-02-29T00:00:00Z"))
    }
}
