/// Deterministic JSON text writing. Foundation's JSONSerialization/JSONEncoder do not promise
/// a stable key order or escaping across versions; sealed batches must be byte-identical on
/// every retry, so the bytes we write come from here.
public enum JSONText {
    /// Appends `s` as a JSON string literal. Non-ASCII stays UTF-8; control characters and
    /// the two mandatory escapes are escaped; `/` is not.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    public static func appendValue(_ v: Value, to out: inout [UInt8]) {
        switch v {
        case .null: out.append(contentsOf: Array("null".utf8))
        case .string(let s): appendString(s, to: &out)
        case .int(let i): out.append(contentsOf: Array(String(i).utf8))
        case .bool(let b): out.append(contentsOf: Array((b ? "true" : "false").utf8))
        case .strings(let a):
            out.append(UInt8(ascii: "["))
            for (i, s) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendString(s, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    public static func string(_ v: Value) -> String {
        var out: [UInt8] = []
        appendValue(v, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A JSON array of values: the outbox's storage form of a row.
    public static func encodeValues(_ values: [Value]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            appendValue(v, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }
}
