import ETLCore
import XCTest
@testable import ETLTransform

/// Outbox rows are read by the same tokenizer as API pages, with the same string rules
/// (`JSONParserTests` has the same cases): anything `JSONText.encodeValues` writes reads back
/// equal, and what no valid encoder writes is an error naming the cause, never a repaired value.
final class OutboxRowReaderTests: XCTestCase {
    private func decode(_ bytes: [UInt8]) -> Result<[Value], JSONParseError> {
        bytes.withUnsafeBufferPointer { buf in
            do throws(JSONParseError) { return .success(try JSONParser.outboxRow(buf)) } catch { return .failure(error) }
        }
    }

    func testEncodedValuesReadBackEqual() throws {
        let texts = ["plain", "quote \" backslash \\ slash /", "controls \u{01}\u{1F}\n\t\r", "☕ 🎵 é",
                     "\u{FFFD} stays", "\u{7F}", ""]
        let values: [Value] = texts.map { .string($0) } + [.null, .int(-42), .strings(texts)]
        XCTAssertEqual(try decode(Array(JSONText.encodeValues(values).utf8)).get(), values)
    }

    func testSurrogatePairEscapeDecodes() throws {
        XCTAssertEqual(try decode(Array(#"["\ud83c\udfb5"]"#.utf8)).get(), [.string("🎵")])
    }

    func testStringsNoEncoderWritesAreErrors() {
        let cases: [([UInt8], String)] = [
            (Array(#"["\ud83c"]"#.utf8), "lone high surrogate"),
            (Array(#"["\udfb5"]"#.utf8), "lone low surrogate"),
            (Array(#"["\ud83c\u0041"]"#.utf8), "invalid surrogate pair"),
            (Array(#"["a\ud83cb"]"#.utf8), "lone high surrogate"),
            (Array(#"[1.5]"#.utf8), "not an integer"), (Array(#"[99999999999999999999]"#.utf8), "not an integer"),
            (Array(#"[01]"#.utf8), "leading zero"), (Array(#"[[1]]"#.utf8), "expected a string"),
            (Array(#"[{}]"#.utf8), "unexpected byte"), (Array(#"[1] x"#.utf8), "trailing bytes"), (Array(#"[1,]"#.utf8), "unexpected byte"),
            ([0x5B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D], "invalid UTF-8"),       // encoded surrogate
            ([0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D], "invalid UTF-8"),             // overlong
            ([0x5B, 0x22, 0x5C, 0x6E, 0xFF, 0x22, 0x5D], "invalid UTF-8"),       // after an escape
            ([0x5B, 0x22, 0x61, 0x0A, 0x22, 0x5D], "control character"),         // raw newline
            ([0x5B, 0x22, 0x5C, 0x74, 0x01, 0x22, 0x5D], "control character"),   // after an escape
        ]
        for (bytes, reason) in cases {
            switch decode(bytes) {
            case .success(let v): XCTFail("\(bytes) decoded to \(v)")
            case .failure(let e): XCTAssertTrue(e.reason.contains(reason), "\(bytes): \(e.description)")
            }
        }
    }
}
