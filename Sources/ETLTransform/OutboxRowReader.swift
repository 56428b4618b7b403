import ETLCore

extension JSONParser {
    /// An outbox row as `JSONText.encodeValues` writes it: a JSON array of null, booleans,
    /// integers, strings and arrays of strings. Read with the tokenizer every other JSON in the
    /// daemon goes through, so its rules hold here too: invalid UTF-8, a raw control character,
    /// a lone surrogate or a malformed number is an error naming the byte, never a repaired
    /// value (a damaged row is quarantined whole, not loaded altered).
    public static func outboxRow(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> [Value] {
        var p = Parser(p: bytes, maxDepth: 2)
        return try p.outboxRow()
    }
}

extension Parser {
    mutating func outboxRow() throws(JSONParseError) -> [Value] {
        skipWS()
        guard i < p.count, p[i] == UInt8(ascii: "[") else { throw fail("expected '['") }
        var row: [Value] = []
        if try openArray() {
            repeat { row.append(try rowValue()) } while try elementEnd()
        }
        skipWS()
        guard i == p.count else { throw fail("trailing bytes") }
        return row
    }

    private mutating func rowValue() throws(JSONParseError) -> Value {
        skipWS()
        guard i < p.count else { throw fail("unexpected end of input") }
        switch p[i] {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "["):
            var list: [String] = []
            guard try openArray() else { return .strings(list) }
            repeat {
                skipWS()
                guard i < p.count, p[i] == UInt8(ascii: "\"") else { throw fail("expected a string in the array") }
                list.append(try string())
            } while try elementEnd()
            return .strings(list)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = i
            guard case .int(let v) = try number() else { throw fail("not an integer", at: start) }
            return .int(v)
        default:
            throw fail("unexpected byte 0x\(String(p[i], radix: 16))")
        }
    }
}
