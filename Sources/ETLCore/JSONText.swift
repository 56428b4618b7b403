/// Deterministic JSON text writing. Foundation's JSONSerialization/JSONEncoder do not promise
/// a stable key order or escaping across versions; sealed batches must be byte-identical on
/// every retry, so the bytes we write come from here.
public enum JSONText {
    /// Appends `s` as a JSON string literal. Non-ASCII stays UTF-8; control characters and
    /// the two mandatory escapes are escaped; `/` is not.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendString(utf8: $0, to: &out) }
    }

    /// As `appendString(_:to:)` for UTF-8 bytes already in hand. Runs of bytes that need no
    /// escape are copied whole.
    public static func appendString(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let n = bytes.count
        var i = 0, runStart = 0
        while i < n {
            i = plainRunEnd(bytes, from: i, to: n)
            guard i < n else { break }
            let b = bytes[i]
            if b >= 0x80 { i += 1; continue }  // non-ASCII UTF-8 stays as it is
            if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
            i += 1
            runStart = i
            switch b {
            case UInt8(ascii: "\""): out.append(0x5C); out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
            default:
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30])
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0xF)])
            }
        }
        if runStart < n { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n])) }
        out.append(UInt8(ascii: "\""))
    }

    /// The index of the first byte in `start..<end` of `p` that needs a look of its own inside
    /// a JSON string literal: `"`, `\`, a control character or a non-ASCII byte (`end` when
    /// there is none). Checks eight bytes at a time; a chunk with any such byte (or a false
    /// alarm) is finished bytewise, so the result is exactly that of a bytewise scan. Shared
    /// by the JSON reader and the outbox's canonical-form check.
    @inlinable @inline(__always)
    public static func plainRunEnd(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int {
        guard let base = p.baseAddress else { return start }
        var j = start
        let ones: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080
        while j + 8 <= end {
            let x = UnsafeRawPointer(base + j).loadUnaligned(as: UInt64.self)
            let q = x ^ (ones &* 0x22), b = x ^ (ones &* 0x5C)
            let m = ((q &- ones) & ~q) | ((b &- ones) & ~b) | ((x &- ones &* 0x20) & ~x) | x
            if m & high != 0 { break }
            j += 8
        }
        while j < end {
            let c = base[j]
            if c == 0x22 || c == 0x5C || c < 0x20 || c >= 0x80 { break }
            j += 1
        }
        return j
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends the decimal digits of `i` (with a leading `-` when negative), as `String(i)`
    /// writes them, without building the string.
    public static func appendInt(_ i: Int64, to out: inout [UInt8]) {
        if i < 0 { out.append(UInt8(ascii: "-")) }
        var m = i.magnitude
        guard m >= 10 else { out.append(UInt8(ascii: "0") + UInt8(m)); return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            var n = 20
            while m > 0 {
                n -= 1
                buf[n] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[n...]))
        }
    }

    public static func appendValue(_ v: Value, to out: inout [UInt8]) {
        switch v {
        case .null: out.append(contentsOf: "null".utf8)
        case .string(let s): appendString(s, to: &out)
        case .int(let i): appendInt(i, to: &out)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
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
