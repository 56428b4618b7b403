import ETLCore
import XCTest
@testable import ETLState

/// The outbox payload reader follows the API reader's string rules (`JSONParserTests` has the
/// same cases): anything `JSONText.encodeValues` writes reads back equal, and a string no
/// valid encoder writes is an error naming the cause, never a repaired value.
final class PayloadDecoderTests: XCTestCase {
    private func decode(_ bytes: [UInt8]) -> Result<[Value], PayloadDecoder.DecodeError> {
        bytes.withUnsafeBufferPointer { buf in
            do { return .success(try PayloadDecoder.decode(bytes: buf)) } catch let e as PayloadDecoder.DecodeError {
                return .failure(e)
            } catch { fatalError("untyped error \(error)") }
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
