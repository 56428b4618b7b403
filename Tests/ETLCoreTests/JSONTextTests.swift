import ETLCore
import Foundation
import XCTest

/// `JSONText` writes the bytes of every sealed batch: its escaping must stay exactly the
/// documented one (a changed byte changes a batch's bytes on retry). Checked against a
/// byte-at-a-time reference of that rule, on fixed cases and on random strings whose runs of
/// plain bytes are longer and shorter than the eight-byte chunks the writer skips at once.
final class JSONTextTests: XCTestCase {
    /// The rule, one byte at a time: `"` `\` and control characters escaped (`\n` `\r` `\t`,
    /// else `\u00xx` in lower-case hex), every other byte (non-ASCII UTF-8 included) as is.
    private func reference(_ s: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for b in s.utf8 {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += Array(#"\n"#.utf8)
            case 0x0D: out += Array(#"\r"#.utf8)
            case 0x09: out += Array(#"\t"#.utf8)
            case 0x00..<0x20: out += Array(String(format: "\\u%04x", Int(b)).utf8)
            default: out.append(b)
            }
        }
        return out + [0x22]
    }

    private func written(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        JSONText.appendString(s, to: &out)
        return out
    }

    func testFixedCases() {
        XCTAssertEqual(String(decoding: written(""), as: UTF8.self), #""""#)
        XCTAssertEqual(String(decoding: written("plain ascii, longer than eight bytes"), as: UTF8.self),
                       #""plain ascii, longer than eight bytes""#)
        XCTAssertEqual(String(decoding: written("a\"b\\c\nd\re\tf\u{1}g\u{1F}/"), as: UTF8.self),
                       #""a\"b\\c\nd\re\tf\u0001g\u001f/""#)
        XCTAssertEqual(String(decoding: written("Beyoncé — 日本 \u{1F600}"), as: UTF8.self), "\"Beyoncé — 日本 \u{1F600}\"")
        XCTAssertEqual(String(decoding: written("\u{7F}"), as: UTF8.self), "\"\u{7F}\"", "DEL is not a control character in JSON")
        for b in 0..<0x20 { XCTAssertEqual(written(String(UnicodeScalar(UInt8(b)))), reference(String(UnicodeScalar(UInt8(b))))) }
    }

    func testRandomStringsMatchTheReference() {
        let alphabet: [String] = ["a", "B", "7", " ", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1F}", "/", "é", "日", "\u{1F600}", "~"]
        var rng = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            let n = Int(rng.next() % 40)
            var s = ""
            for _ in 0..<n {
                // Mostly plain letters, so plain runs of every length around the chunk size occur.
                let r = rng.next()
                s += r % 4 == 0 ? alphabet[Int((r >> 8) % UInt64(alphabet.count))] : "x"
            }
            XCTAssertEqual(written(s), reference(s), s.debugDescription)
        }
    }

    func testIntegersAsStringPrintsThem() {
        for v: Int64 in [0, 1, 9, 10, -1, -9, -10, 42, 1_234_567_890, Int64.max, Int64.min, Int64.min + 1] {
            var out: [UInt8] = []
            JSONText.appendValue(.int(v), to: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), String(v))
        }
    }

    func testValuesAndRows() {
        XCTAssertEqual(JSONText.encodeValues([.null, .bool(true), .bool(false), .int(-3), .string("x\"y"), .strings(["a", "b\n"]), .strings([])]),
                       #"[null,true,false,-3,"x\"y",["a","b\n"],[]]"#)
    }
}
