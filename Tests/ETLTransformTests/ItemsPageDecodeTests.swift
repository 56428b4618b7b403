import ETLCore
import XCTest
@testable import ETLTransform

/// `decodeParsedItemsPage` (the direct decoder; rejects, local files and pages it does not take
/// parsed in full) must give exactly what `decodeItemsPage` + `parseEntry` give: same entries,
/// same reject reasons and raw texts, same errors, here on byte-level corruptions.
final class ItemsPageDecodeTests: XCTestCase {
    private func reference(_ body: [UInt8]) -> Result<ParsedItemsPage, TransformError> { PageDecodings.reference(body) }
    private func decoded(_ body: [UInt8]) -> Result<ParsedItemsPage, TransformError> { PageDecodings.decoded(body) }

    private func assertSame(_ body: String, file: StaticString = #filePath, line: UInt = #line) {
        let bytes = Array(body.utf8)
        XCTAssertEqual(decoded(bytes), reference(bytes), body, file: file, line: line)
    }

    /// Entries of every kind, including rejects and shapes that touch the decoders' edges.
    static var entries: [String] {
        let t = Fixtures.track()
        return [
            Fixtures.entry(t),
            Fixtures.entry(Fixtures.track(id: "2", name: "Caf\\u00e9 \\\"q\\\" \\\\ x", artists: [("a1", "A"), ("a2", "B\\u00fc")])),
            Fixtures.entry(t, field: .itemOnly),
            Fixtures.entry(t, field: .trackOnly),
            Fixtures.entry(Fixtures.episode()),
            Fixtures.entry(Fixtures.local),
            Fixtures.entry(t, addedAt: nil, addedBy: nil),
            #"{"added_at":"2026-01-01T00:00:00Z","is_local":false,"item":null,"track":null,"video_thumbnail":{"url":null}}"#,
            #"{"item":"spotify:track:x","href":"h"}"#,
            "[1,2]",
            "null",
            Fixtures.entry(t, addedAt: "yesterday"),
            Fixtures.entry(t.replacing(#""type":"track","uri""#, with: #""type":"audiobook","uri""#)),
            Fixtures.entry(t.replacing(#""duration_ms":213573"#, with: #""duration_ms":2.5"#)),
            Fixtures.entry(t.replacing(#""release_date":"1987-11-12""#, with: #""release_date":null"#)),
            // A key written with an escape is never skipped (parsed in full): same result.
            Fixtures.entry(t.replacing(#""href":"#, with: #""\u0068ref":"#)),
            // Duplicate keys: the first wins, skipped or not.
            Fixtures.entry(t.replacing(#""id":"4iV5W9uYEdYUVa79Axb7Rh""#,
                                                  with: #""id":"4iV5W9uYEdYUVa79Axb7Rh","id":"other","href":1,"href":[]"#)),
            // Unread keys with every kind of value, nested deeply.
            Fixtures.entry(t.replacing(#""disc_number":1"#, with: #""disc_number":1,"images":[{"a":[1,-2.5e3,true,null,"\u00e9\ud83c\udfb5"]},{}],"description":"x\ny","linked_from":{"id":"z","name":7}"#.replacing("\n", with: "\\n"))),
            // Whitespace everywhere.
            " { \"item\" : \(t) , \"added_at\" : null , \"external_urls\" : { \"spotify\" : \"u\" } } ",
        ]
    }

    func testSameResultsAsTheFullParseForEveryKindOfEntry() {
        let entries = Self.entries
        for e in entries { assertSame(Fixtures.page([e], offset: 7, total: 100)) }
        assertSame(Fixtures.page(entries, offset: 0, total: entries.count, next: "https://api.spotify.com/v1/next"))
        assertSame(Fixtures.page([]))
        // Page-level oddities: an unread key before `items`, `items` repeated, not first.
        assertSame(#"{"href":"h","previous":null,"total":2,"offset":0,"items":[\#(entries[0]),\#(entries[7])],"items":[]}"#)
        assertSame(#"{"items":{"a":1},"total":1,"offset":0}"#)
        assertSame(#"{"total":1,"offset":0}"#)
        assertSame(#"[{"items":[]}]"#)
    }

    func testRejectsKeepTheirFullCanonicalText() throws {
        let null = #"{"added_at":null,"external_urls":{"spotify":"https://x"},"href":"h","item":null,"track":null}"#
        let page = try decodeParsedItemsPage(Array(Fixtures.page([Fixtures.entry(Fixtures.track()), null], offset: 10).utf8))
        guard case .reject(let reason, let raw, let position) = page.entries[1] else { return XCTFail("not a reject") }
        XCTAssertEqual(reason, RejectReason.unavailable)
        XCTAssertEqual(position, 11)
        XCTAssertEqual(raw, #"{"added_at":null,"external_urls":{"spotify":"https://x"},"href":"h","item":null,"track":null}"#)
    }

    /// A body the direct decoder accepts is one the full parse accepts, and the other way
    /// round; errors are the full parser's. Random byte edits of a real page, seeded.
    func testMutatedBodiesFailExactlyAsTheFullParseFails() {
        let base = Array(Fixtures.page(Array(Self.entries.prefix(8)), offset: 0, total: 8).utf8)
        let interesting: [UInt8] = Array(#""\{}[],:u0e- n/"#.utf8) + [0x01, 0x1F, 0x7F, 0xC3, 0xE2, 0xED, 0xF0, 0xFF, 0x80]
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((rng >> 33) % UInt64(n))
        }
        var failures = 0
        for _ in 0..<3000 {
            var b = base
            for _ in 0..<(1 + next(3)) {
                let at = next(b.count)
                switch next(4) {
                case 0: b[at] = interesting[next(interesting.count)]
                case 1: b.remove(at: at)
                case 2: b.insert(interesting[next(interesting.count)], at: at)
                default: b = Array(b[..<at])
                }
                if b.isEmpty { break }
            }
            let r = reference(b)
            if case .failure = r { failures += 1 }
            XCTAssertEqual(decoded(b), r, String(decoding: b, as: UTF8.self))
        }
        XCTAssertGreaterThan(failures, 1000, "the mutations exercise the error paths")
    }

    /// The eight-bytes-at-a-time string scan finds every special byte wherever it sits
    /// relative to a chunk boundary, in keys and values.
    func testStringScanAtEveryOffset() throws {
        let specials: [(text: String, decoded: String?)] = [
            ("\\n", "\n"), ("\\\"", "\""), ("\\\\", "\\"), ("\\u00e9", "é"), ("é", "é"), ("😀", "😀"),
            ("\u{01}", nil), ("\u{1F}", nil), ("\\x", nil),
        ]
        for n in 0..<20 {
            for m in [0, 1, 7, 8, 9] {
                for s in specials {
                    let text = String(repeating: "a", count: n) + s.text + String(repeating: "b", count: m)
                    let expected = s.decoded.map { String(repeating: "a", count: n) + $0 + String(repeating: "b", count: m) }
                    for doc in ["\"\(text)\"", "{\"\(text)\": 1}", "{\"href\": \"\(text)\", \"k\": 2}"] {
                        switch Result(catching: { try JSONParser.parse(doc) }) {
                        case .success(let v):
                            XCTAssertNotNil(expected, doc)
                            if doc.hasPrefix("\"") { XCTAssertEqual(v, .string(expected ?? "")) }
                            if doc.hasPrefix("{") && !doc.hasPrefix("{\"href") {
                                XCTAssertEqual(v.objectValue?.first?.key, expected, doc)
                            }
                            if doc.hasPrefix("{\"href") { XCTAssertEqual(v["href"], .string(expected ?? ""), doc) }
                        case .failure(let e):
                            XCTAssertNil(expected, doc)
                            // At the offending byte: the control character, or the `x` after `\`.
                            let marker: UInt8 = s.text == "\\x" ? UInt8(ascii: "x") : s.text.utf8.first!
                            XCTAssertEqual((e as? JSONParseError)?.offset, Array(doc.utf8).firstIndex(of: marker), doc)
                        }
                    }
                }
            }
        }
        // Long plain strings (many whole chunks) and a quote right at a chunk's end.
        for n in [7, 8, 15, 16, 63, 64, 65] {
            let s = String(repeating: "x", count: n)
            XCTAssertEqual(try JSONParser.parse("[\"\(s)\",\"\(s)\"]"), .array([.string(s), .string(s)]))
        }
    }
}
