import XCTest
@testable import ETLTransform

/// The parser shares the parsed value of a container whose bytes repeat a sibling's (the
/// `item`/`track` pair of every playlist entry). These tests pin that the shortcut never
/// changes what is parsed, including near-misses and errors right after a repeated value.
final class JSONParserSiblingReuseTests: XCTestCase {
    private let track = #"{"album": {"id": "al1", "name": "Album", "images": [{"url": "u", "height": 640}]}, "id": "t1", "name": "Song \u00e9 \"q\"", "duration_ms": 1000, "artists": [{"id": "a1", "name": "A"}]}"#

    func testRepeatedSiblingParsesToTheSameValueAsAlone() throws {
        let alone = try JSONParser.parse(track)
        let entry = try JSONParser.parse(#"{"added_at": null, "item": \#(track), "track": \#(track)}"#)
        XCTAssertEqual(entry["item"], alone)
        XCTAssertEqual(entry["track"], alone)
        XCTAssertEqual(entry.objectValue?.map(\.key), ["added_at", "item", "track"])
        // Canonical text (the reject `raw`) is unchanged by sharing.
        XCTAssertEqual(entry.canonicalText,
                       #"{"added_at":null,"item":\#(alone.canonicalText),"track":\#(alone.canonicalText)}"#)
    }

    func testRepeatAfterAnotherLargeSiblingAndInEitherOrder() throws {
        let other = #"{"external_urls": {"spotify": "https://open.spotify.com/user/x"}, "id": "x", "type": "user"}"#
        let doc = #"{"track": \#(track), "added_by": \#(other), "item": \#(track)}"#
        let v = try JSONParser.parse(doc)
        XCTAssertEqual(v["item"], try JSONParser.parse(track))
        XCTAssertEqual(v["track"], v["item"])
        XCTAssertEqual(v["added_by"], try JSONParser.parse(other))
    }

    func testNearMissIsParsedOnItsOwn() throws {
        // Same length, one byte different at the very end of the value.
        XCTAssertTrue(track.hasSuffix(#""name": "A"}]}"#))
        let changed = String(track.dropLast(5)) + #"B"}]}"#
        XCTAssertEqual(changed.utf8.count, track.utf8.count)
        let v = try JSONParser.parse(#"{"item": \#(track), "track": \#(changed)}"#)
        XCTAssertEqual(v["track"], try JSONParser.parse(changed))
        XCTAssertNotEqual(v["track"], v["item"])
        // A prefix of the sibling (shorter value) is not mistaken for it.
        let short = #"{"album": {"id": "al1"}, "id": "t1", "name": "Song", "duration_ms": 1000, "artists": []}"#
        let w = try JSONParser.parse(#"{"item": \#(track), "track": \#(short)}"#)
        XCTAssertEqual(w["track"], try JSONParser.parse(short))
    }

    func testErrorsAfterARepeatedValueAreStillReported() {
        XCTAssertThrowsError(try JSONParser.parse(#"{"item": \#(track), "track": \#(track) x}"#)) { e in
            XCTAssertEqual((e as? JSONParseError)?.reason, "expected ',' or '}'")
        }
        XCTAssertThrowsError(try JSONParser.parse(#"{"item": \#(track), "track": \#(track.dropLast())"#))
        // Depth limit applies to the repeated copy as to the first (same depth, same bytes).
        XCTAssertThrowsError(try JSONParser.parse(#"{"item": \#(track), "track": \#(track)}"#, maxDepth: 2))
    }

    func testRepeatedArraysAndSmallValues() throws {
        let arr = "[" + (0..<40).map { "\"m\($0)\"" }.joined(separator: ", ") + "]"
        let v = try JSONParser.parse(#"{"a": \#(arr), "b": \#(arr), "c": {"u": null}, "d": {"u": null}}"#)
        XCTAssertEqual(v["b"], try JSONParser.parse(arr))
        XCTAssertEqual(v["d"], .object([("u", .null)]))
    }
}
