import ETLCore
import Foundation
import XCTest
@testable import ETLTransform

final class JSONParserTests: XCTestCase {
    func testParsesAllValueKindsAndKeepsKeyOrder() throws {
        let v = try JSONParser.parse(#" { "z": 1, "a": [true, false, null, -0, 12.5e1, "s"], "m": {} , "e": [] } "#)
        guard case .object(let fields) = v else { return XCTFail("not object") }
        XCTAssertEqual(fields.map(\.key), ["z", "a", "m", "e"])
        XCTAssertEqual(v["z"], .int(1))
        XCTAssertEqual(v["a"], .array([.bool(true), .bool(false), .null, .int(0), .double(125), .string("s")]))
        XCTAssertEqual(v["m"], .object([]))
        XCTAssertEqual(v["e"], .array([]))
    }

    func testIntegerBoundsAndOverflowToDouble() throws {
        XCTAssertEqual(try JSONParser.parse("9223372036854775807"), .int(Int64.max))
        XCTAssertEqual(try JSONParser.parse("-9223372036854775808"), .int(Int64.min))
        XCTAssertEqual(try JSONParser.parse("9223372036854775808"), .double(9223372036854775808.0))
        XCTAssertThrowsError(try JSONParser.parse("1e400"))
        XCTAssertEqual(JSONValue.double(200000.0).intValue, 200000)
        XCTAssertNil(JSONValue.double(1.5).intValue)
        XCTAssertNil(JSONValue.string("3").intValue)
    }

    func testEscapesAndSurrogatePairs() throws {
        let v = try JSONParser.parse(#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83c\udfb5\u4e2d""#)
        XCTAssertEqual(v, .string("a\"b\\c/d\u{8}\u{c}\n\r\té🎵中"))
    }

    func testRawUTF8IsKept() throws {
        let s = "Motörhead – 東京 – مرحبا – 👩‍👩‍👧"
        XCTAssertEqual(try JSONParser.parse("\"\(s)\""), .string(s))
    }

    func testRejectsBadInputWithOffsets() {
        let cases: [(String, String)] = [
            ("", "unexpected end"), ("{", "unexpected end"), ("[1,", "unexpected end"), ("{\"a\":1,}", "expected object key"),
            ("[1,]", "unexpected byte"), ("01", "leading zero"), ("-", "invalid number"), ("1.", "invalid number"),
            ("1e", "invalid number"), ("tru", "unexpected end"), ("nul!", "invalid literal"), ("\"abc", "unterminated"),
            ("\"a\u{1}b\"", "control character"), (#""\x""#, "invalid escape"), (#""\u12G4""#, "invalid \\u escape"),
            (#""\ud83c""#, "lone high surrogate"), (#""\udfb5""#, "lone low surrogate"), (#""\ud83c\u0041""#, "invalid surrogate pair"),
            ("{} {}", "trailing data"), ("{'a':1}", "expected object key"), ("[1 2]", "expected ','"), ("NaN", "unexpected byte"),
        ]
        for (input, reason) in cases {
            switch JSONParser.parseResult(Array(input.utf8)) {
            case .success(let v): XCTFail("accepted \(input): \(v)")
            case .failure(let e):
                XCTAssertTrue(e.reason.contains(reason), "\(input): got \(e.reason)")
                XCTAssertTrue(e.description.hasPrefix("invalid JSON at byte \(e.offset)"))
            }
        }
        if case .failure(let e) = JSONParser.parseResult(Array("[1, 2, x]".utf8)) { XCTAssertEqual(e.offset, 7) } else { XCTFail() }
    }

    func testInvalidUTF8IsAnErrorNotReplaced() {
        let bad: [[UInt8]] = [
            [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xC0, 0xAF, 0x22], // overlong
            [0x22, 0xED, 0xA0, 0x80, 0x22], // encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], // > U+10FFFF
            [0x22, 0xE2, 0x82, 0x22], // truncated
            [0x22, 0x5C, 0x6E, 0xFE, 0x22], // invalid after an escape (slow path)
        ]
        for b in bad {
            guard case .failure(let e) = JSONParser.parseResult(b) else { XCTFail("accepted \(b)"); continue }
            XCTAssertEqual(e.reason, "invalid UTF-8")
        }
        XCTAssertEqual(try JSONParser.parse([0x22, 0xE2, 0x82, 0xAC, 0x22]), .string("€"))
    }

    func testDepthLimit() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        guard case .failure(let e) = JSONParser.parseResult(Array(deep.utf8)) else { return XCTFail("accepted") }
        XCTAssertTrue(e.reason.contains("nesting deeper than \(JSONParser.defaultMaxDepth)"))
        let ok = String(repeating: "{\"a\":", count: 100) + "1" + String(repeating: "}", count: 100)
        XCTAssertNoThrow(try JSONParser.parse(ok))
        XCTAssertThrowsError(try JSONParser.parse(ok, maxDepth: 99))
    }

    func testTruncationsOfARealBodyNeverCrash() {
        let body = Array(Fixtures.page([Fixtures.entry(Fixtures.track()), Fixtures.entry(Fixtures.episode())]).utf8)
        XCTAssertNoThrow(try JSONParser.parse(body))
        for cut in 0..<body.count {
            XCTAssertThrowsError(try JSONParser.parse(Array(body[0..<cut])), "prefix \(cut) accepted")
        }
    }

    func testRandomBytesNeverCrash() {
        var rng = SplitMix64(seed: 42)
        let alphabet = Array("{}[]\",:\\u0123456789abcdefnulltruefalse -+.eE\u{1}".utf8) + [0xC3, 0xA9, 0xFF, 0xF0, 0x9F]
        for _ in 0..<5_000 {
            let n = Int(rng.next() % 40)
            let bytes = (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            _ = JSONParser.parseResult(bytes)
        }
        // Mutations of a valid body: flip bytes and make sure we only ever get a value or an error.
        let body = Array(Fixtures.entry(Fixtures.track()).utf8)
        var accepted = 0
        for _ in 0..<2_000 {
            var b = body
            b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
            if case .success(let v) = JSONParser.parseResult(b) {
                accepted += 1
                _ = parseEntry(v, position: 0) // the entry parser must cope with whatever survived
            }
        }
        XCTAssertLessThan(accepted, 2_000)
    }

    func testCanonicalTextIsSortedDeterministicAndEscaped() throws {
        let a = try JSONParser.parse(#"{"b":1,"a":{"y":[1,2.5,"x\n"],"x":null},"é":true}"#)
        let b = try JSONParser.parse(#"{ "é" : true, "a" : { "x" : null, "y" : [ 1, 2.5, "x\u000a" ] }, "b" : 1 }"#)
        XCTAssertEqual(a.canonicalText, #"{"a":{"x":null,"y":[1,2.5,"x\n"]},"b":1,"é":true}"#)
        XCTAssertEqual(a.canonicalText, b.canonicalText)
        XCTAssertEqual(try JSONParser.parse(a.canonicalText), try JSONParser.parse(b.canonicalText))
        XCTAssertEqual(JSONValue.string("\u{1}").canonicalText, #""\u0001""#)
    }

    func testDecodableConformanceMatchesParser() throws {
        let text = #"{"a":[1,2.5,"s",null,true],"b":{"c":"d"}}"#
        let viaDecoder = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        XCTAssertEqual(viaDecoder.canonicalText, try JSONParser.parse(text).canonicalText)
    }

    func testRejectHashIsStableFNV1a() {
        // FNV-1a 64 of "" is the offset basis; of "a" is af63dc4c8601ec8c (published test vectors).
        XCTAssertEqual(RejectHash.of(""), "fnv1a64:cbf29ce484222325:0")
        XCTAssertEqual(RejectHash.of("a"), "fnv1a64:af63dc4c8601ec8c:1")
        XCTAssertEqual(RejectHash.of("é"), RejectHash.of("é"))
        XCTAssertNotEqual(RejectHash.of("null"), RejectHash.of("nulm"))
    }
}

