import ETLCore

/// Decodes the outbox storage form written by `JSONText.encodeValues`: a JSON array whose
/// elements are null, true/false, integers, strings, or arrays of strings. Hand-written
/// because it runs once per row while a batch is streamed out, and Foundation's JSON parser
/// would allocate dictionaries/NSNumbers and could turn large integers into doubles.
/// Accepts standard JSON escapes (incl. `\uXXXX` and surrogate pairs) so that it also reads
/// anything a future encoder might write. Strings follow the API reader's rules
/// (`JSONParser`): invalid UTF-8, a raw control character, a lone or mismatched surrogate is
/// an error, never repaired, so a damaged row is quarantined whole rather than loaded altered.
enum PayloadDecoder {
    struct DecodeError: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "\(reason) at byte \(offset)" }
    }

    static func decode(_ text: String) throws -> [Value] {
        var t = text
        return try t.withUTF8 { try decode(bytes: $0) }
    }

    static func decode(bytes: UnsafeBufferPointer<UInt8>) throws -> [Value] {
        var p = Parser(b: bytes)
        return try p.parseRow()
    }

    private struct Parser {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0

        init(b: UnsafeBufferPointer<UInt8>) { self.b = b }

        func fail(_ r: String) -> DecodeError { DecodeError(offset: i, reason: r) }

        mutating func skipWS() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ c: UInt8) throws {
            skipWS()
            guard i < b.count, b[i] == c else { throw fail("expected '\(Character(UnicodeScalar(c)))'") }
            i += 1
        }

        mutating func parseRow() throws -> [Value] {
            try expect(UInt8(ascii: "["))
            var out: [Value] = []
            skipWS()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return try end(out) }
            while true {
                out.append(try parseValue())
                skipWS()
                guard i < b.count else { throw fail("unterminated array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; break }
                throw fail("expected ',' or ']'")
            }
            return try end(out)
        }

        mutating func end(_ v: [Value]) throws -> [Value] {
            skipWS()
            guard i == b.count else { throw fail("trailing bytes") }
            return v
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let n = word.utf8CodeUnitCount
            guard i + n <= b.count else { return false }
            let w = word.utf8Start
            for k in 0..<n where b[i + k] != w[k] { return false }
            i += n
            return true
        }

        mutating func parseValue() throws -> Value {
            skipWS()
            guard i < b.count else { throw fail("unexpected end") }
            switch b[i] {
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "n"): if literal("null") { return .null }
            case UInt8(ascii: "t"): if literal("true") { return .bool(true) }
            case UInt8(ascii: "f"): if literal("false") { return .bool(false) }
            case UInt8(ascii: "["):
                i += 1
                var arr: [String] = []
                skipWS()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .strings(arr) }
                while true {
                    skipWS()
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected string in array") }
                    arr.append(try parseString())
                    skipWS()
                    guard i < b.count else { throw fail("unterminated array") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .strings(arr) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .int(try parseInt())
            default: break
            }
            throw fail("unexpected byte")
        }

        mutating func parseInt() throws -> Int64 {
            var neg = false
            if b[i] == UInt8(ascii: "-") { neg = true; i += 1 }
            let start = i
            var v: Int64 = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                let d = Int64(b[i] - 0x30)
                // Accumulate negatively so Int64.min round-trips.
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.subtractingReportingOverflow(d)
                guard !o1, !o2 else { throw fail("integer overflow") }
                v = s
                i += 1
            }
            guard i > start else { throw fail("expected digits") }
            if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                throw fail("non-integer number")
            }
            if neg { return v }
            guard v != Int64.min else { throw fail("integer overflow") }
            return -v
        }

        mutating func parseString() throws -> String {
            i += 1  // opening quote
            let start = i
            // Fast path: no escapes.
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    guard let s = String(validating: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self) else {
                        throw DecodeError(offset: start, reason: "invalid UTF-8 in string")
                    }
                    i += 1
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw fail("control character in string") }
                i += 1
            }
            guard i < b.count else { throw fail("unterminated string") }
            var out: [UInt8] = Array(b[start..<i])
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    guard let s = String(validating: out, as: UTF8.self) else {
                        throw DecodeError(offset: start, reason: "invalid UTF-8 in string")
                    }
                    i += 1
                    return s
                }
                if c < 0x20 { throw fail("control character in string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { break }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        // A high surrogate must be followed by a \uDC00-DFFF escape.
                        guard i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                            throw fail("lone high surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("invalid surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("lone low surrogate")
                    }
                    appendUTF8(scalar, to: &out)
                default: throw fail("bad escape")
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count else { throw fail("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail("bad hex digit")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        func appendUTF8(_ s: UInt32, to out: inout [UInt8]) {
            switch s {
            case 0..<0x80: out.append(UInt8(s))
            case 0x80..<0x800:
                out.append(UInt8(0xC0 | (s >> 6))); out.append(UInt8(0x80 | (s & 0x3F)))
            case 0x800..<0x10000:
                out.append(UInt8(0xE0 | (s >> 12))); out.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (s & 0x3F)))
            default:
                out.append(UInt8(0xF0 | (s >> 18))); out.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
                out.append(UInt8(0x80 | ((s >> 6) & 0x3F))); out.append(UInt8(0x80 | (s & 0x3F)))
            }
        }
    }
}
