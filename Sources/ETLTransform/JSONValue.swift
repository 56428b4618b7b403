import ETLCore

/// A parsed JSON document. Objects keep their keys in document order (duplicates included) so
/// nothing the API sent is lost before it is either transformed or stored verbatim as a reject.
///
/// Parsed by `JSONParser` (a strict hand-written RFC 8259 parser over bytes), not Foundation:
/// it is several times faster, reports the byte offset of the first error, rejects invalid
/// UTF-8 and lone surrogates, and caps nesting depth, so hostile bodies cannot crash the daemon.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// First value under `key` when this is an object; nil otherwise or when absent.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let fields) = self else { return nil }
        for f in fields where f.key == key { return f.value }
        return nil
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }

    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }

    /// Integers, and doubles that are exactly integral and in `Int` range (`200000.0`): a
    /// lossless reading. `1.5` or `"3"` are not integers.
    public var intValue: Int? {
        switch self {
        case .int(let i): return Int(exactly: i)
        case .double(let d):
            guard d.isFinite, d.rounded(.towardZero) == d, abs(d) < 9.0e15 else { return nil }
            return Int(d)
        default: return nil
        }
    }

    /// Any JSON number as a Double (`3600` and `3600.0` alike); nil for non-numbers.
    public var numberValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }

    public var objectValue: [(key: String, value: JSONValue)]? {
        if case .object(let o) = self { return o } else { return nil }
    }

    /// Deterministic JSON text: object keys sorted by their UTF-8 bytes (stable for
    /// duplicates), no whitespace, strings escaped exactly as `JSONText` does, integers in
    /// decimal, doubles in Swift's shortest round-trip form. Used as the reject `raw` column
    /// and as the input of `RejectHash`, so the same offending entry always gives the same
    /// bytes and the same hash.
    public var canonicalText: String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        appendCanonical(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func appendCanonical(to out: inout [UInt8]) {
        appendCanonical(into: &out)
    }

    /// The canonical text written into any `CanonicalSink` (the one definition of the form).
    func appendCanonical<S: CanonicalSink>(into out: inout S) {
        switch self {
        case .null: out.appendBytes([0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let b): out.appendBytes(Array((b ? "true" : "false").utf8))
        case .int(let i): out.appendBytes(Array(String(i).utf8))
        case .double(let d): out.appendBytes(Array((d.isFinite ? "\(d)" : "null").utf8))
        case .string(let s): out.appendJSONString(s)
        case .array(let a):
            out.appendByte(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.appendByte(UInt8(ascii: ",")) }
                v.appendCanonical(into: &out)
            }
            out.appendByte(UInt8(ascii: "]"))
        case .object(let fields):
            let sorted = fields.enumerated().sorted { l, r in
                if l.element.key == r.element.key { return l.offset < r.offset }
                return l.element.key.utf8.lexicographicallyPrecedes(r.element.key.utf8)
            }
            out.appendByte(UInt8(ascii: "{"))
            for (i, f) in sorted.enumerated() {
                if i > 0 { out.appendByte(UInt8(ascii: ",")) }
                out.appendJSONString(f.element.key)
                out.appendByte(UInt8(ascii: ":"))
                f.element.value.appendCanonical(into: &out)
            }
            out.appendByte(UInt8(ascii: "}"))
        }
    }
}

/// Where canonical JSON text is written: a byte array, or a writer that keeps only a prefix
/// (`RejectRaw`). Strings go through `appendJSONString` so each sink may escape them its own
/// way (whole, or in pieces) with `JSONText`'s escaping.
protocol CanonicalSink {
    mutating func appendByte(_ b: UInt8)
    mutating func appendBytes(_ b: [UInt8])
    /// `s` as a JSON string literal, exactly as `JSONText.appendString` writes it.
    mutating func appendJSONString(_ s: String)
}

extension Array: CanonicalSink where Element == UInt8 {
    mutating func appendByte(_ b: UInt8) { append(b) }
    mutating func appendBytes(_ b: [UInt8]) { append(contentsOf: b) }
    mutating func appendJSONString(_ s: String) { JSONText.appendString(s, to: &self) }
}


extension JSONValue: Equatable {
    public static func == (l: JSONValue, r: JSONValue) -> Bool {
        switch (l, r) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }
}

extension JSONValue: Hashable {
    public func hash(into h: inout Hasher) {
        switch self {
        case .null: h.combine(0)
        case .bool(let b): h.combine(1); h.combine(b)
        case .int(let i): h.combine(2); h.combine(i)
        case .double(let d): h.combine(3); h.combine(d)
        case .string(let s): h.combine(4); h.combine(s)
        case .array(let a): h.combine(5); h.combine(a)
        case .object(let o):
            h.combine(6); h.combine(o.count)
            for f in o { h.combine(f.key); h.combine(f.value) }
        }
    }
}

/// `Decodable` for callers that already hold a `Decoder`. Keyed containers do not expose
/// document order, so objects decoded this way have their keys sorted; the byte parser
/// (`JSONParser`) is the path the pipeline uses and keeps order.
extension JSONValue: Decodable {
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }

    public init(from decoder: Decoder) throws {
        if let c = try? decoder.container(keyedBy: AnyKey.self) {
            var fields: [(key: String, value: JSONValue)] = []
            for k in c.allKeys.sorted(by: { $0.stringValue.utf8.lexicographicallyPrecedes($1.stringValue.utf8) }) {
                fields.append((k.stringValue, try c.decode(JSONValue.self, forKey: k)))
            }
            self = .object(fields)
            return
        }
        if var a = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !a.isAtEnd { items.append(try a.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else { self = .string(try c.decode(String.self)) }
    }
}
