import FoundationEssentials

/// A minimal XML tree for S3's small response documents (errors, listings, multipart
/// replies). Namespaces and attributes are ignored; only element names and text matter.
/// Hand-written rather than FoundationXML so that the daemon does not load libxml2 (and the
/// ICU it links) for the three short documents S3 sends back.
final class S3XMLNode {
    let name: String
    var text = ""
    var children: [S3XMLNode] = []
    init(name: String) { self.name = name }

    func child(_ name: String) -> S3XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [S3XMLNode] { children.filter { $0.name == name } }
    func value(_ name: String) -> String? { child(name)?.text }

    /// Parses a document; nil when it is not well-formed XML (an empty body, an HTML proxy
    /// page, a truncated reply).
    static func parse(_ data: Data) -> S3XMLNode? {
        guard !data.isEmpty else { return nil }
        var reader = S3XMLReader(bytes: Array(data))
        return reader.document()
    }
}

/// A small non-validating XML reader: elements, character data, the five predefined entities
/// and numeric character references, CDATA, comments, processing instructions and a DOCTYPE
/// without an internal subset. Anything else makes the document invalid.
struct S3XMLReader {
    private let b: [UInt8]
    private var i = 0

    init(bytes: [UInt8]) {
        // A UTF-8 byte-order mark is allowed before the prolog.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { b = Array(bytes.dropFirst(3)) } else { b = bytes }
    }

    mutating func document() -> S3XMLNode? {
        var root: S3XMLNode?
        var stack: [S3XMLNode] = []
        var text: [UInt8] = []
        func flushText() {
            if !text.isEmpty, let top = stack.last { top.text += String(decoding: text, as: UTF8.self) }
            text.removeAll(keepingCapacity: true)
        }
        while i < b.count {
            let c = b[i]
            if c != UInt8(ascii: "<") {
                if c == UInt8(ascii: "&") {
                    guard let decoded = entity() else { return nil }
                    if !stack.isEmpty { text += decoded }
                } else {
                    if stack.isEmpty, !isSpace(c) { return nil }  // text outside the root element
                    if !stack.isEmpty { text.append(c) }
                    i += 1
                }
                continue
            }
            if starts("<?") {
                guard skip(past: Array("?>".utf8)) else { return nil }
            } else if starts("<!--") {
                guard skip(past: Array("-->".utf8)) else { return nil }
            } else if starts("<![CDATA[") {
                guard !stack.isEmpty else { return nil }
                i += 9
                let from = i
                guard skip(past: Array("]]>".utf8)) else { return nil }
                text += b[from..<(i - 3)]
            } else if starts("<!") {
                guard stack.isEmpty, root == nil, skip(past: [UInt8(ascii: ">")]) else { return nil }
            } else if starts("</") {
                i += 2
                guard let name = name(), let top = stack.last, top.name == name else { return nil }
                skipSpaces()
                guard i < b.count, b[i] == UInt8(ascii: ">") else { return nil }
                i += 1
                flushText()
                stack.removeLast()
            } else {
                i += 1
                guard let name = name() else { return nil }
                guard root == nil || !stack.isEmpty else { return nil }  // a second root element
                flushText()
                let node = S3XMLNode(name: name)
                stack.last?.children.append(node)
                if root == nil { root = node }
                guard let selfClosing = skipAttributes() else { return nil }
                if !selfClosing { stack.append(node) }
            }
        }
        guard stack.isEmpty, let root else { return nil }
        return root
    }

    private func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    private func starts(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard i + n <= b.count else { return false }
        let p = s.utf8Start
        for k in 0..<n where b[i + k] != p[k] { return false }
        return true
    }

    /// Moves past the next occurrence of `end`; false when there is none.
    private mutating func skip(past end: [UInt8]) -> Bool {
        while i + end.count <= b.count {
            if b[i] == end[0], Array(b[i..<(i + end.count)]) == end { i += end.count; return true }
            i += 1
        }
        return false
    }

    private mutating func skipSpaces() { while i < b.count, isSpace(b[i]) { i += 1 } }

    private mutating func name() -> String? {
        let from = i
        while i < b.count {
            let c = b[i]
            if isSpace(c) || c == UInt8(ascii: ">") || c == UInt8(ascii: "/") || c == UInt8(ascii: "=") { break }
            if c == UInt8(ascii: "<") || c == UInt8(ascii: "&") || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") { return nil }
            i += 1
        }
        guard i > from else { return nil }
        return String(decoding: b[from..<i], as: UTF8.self)
    }

    /// Skips `name="value"` pairs up to `>` or `/>`; returns whether the tag closed itself.
    private mutating func skipAttributes() -> Bool? {
        while true {
            skipSpaces()
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: ">") { i += 1; return false }
            if b[i] == UInt8(ascii: "/") {
                guard i + 1 < b.count, b[i + 1] == UInt8(ascii: ">") else { return nil }
                i += 2
                return true
            }
            guard name() != nil else { return nil }
            skipSpaces()
            guard i < b.count, b[i] == UInt8(ascii: "=") else { return nil }
            i += 1
            skipSpaces()
            guard i < b.count, b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") else { return nil }
            let quote = b[i]
            i += 1
            while i < b.count, b[i] != quote { if b[i] == UInt8(ascii: "<") { return nil }; i += 1 }
            guard i < b.count else { return nil }
            i += 1
        }
    }

    /// Decodes `&name;` or `&#N;` / `&#xH;` at `i` into UTF-8.
    private mutating func entity() -> [UInt8]? {
        guard let semi = b[i...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else { return nil }
        let body = String(decoding: b[(i + 1)..<semi], as: UTF8.self)
        i = semi + 1
        switch body {
        case "amp": return [UInt8(ascii: "&")]
        case "lt": return [UInt8(ascii: "<")]
        case "gt": return [UInt8(ascii: ">")]
        case "quot": return [UInt8(ascii: "\"")]
        case "apos": return [UInt8(ascii: "'")]
        default:
            guard body.hasPrefix("#") else { return nil }
            let digits = body.dropFirst()
            let value = digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
            guard let v = value, v != 0, let scalar = Unicode.Scalar(v) else { return nil }
            return Array(String(Character(scalar)).utf8)
        }
    }
}

/// An S3 error reply: `<Error><Code/><Message/><RequestId/></Error>`.
public struct S3ErrorBody: Sendable, Equatable {
    public var code: String
    public var message: String
    public var requestID: String?

    /// Parses the body; falls back to the HTTP status when there is none (HEAD replies).
    public static func parse(status: Int, body: Data, headers: [(String, String)] = []) -> S3ErrorBody {
        let headerID = headers.last { $0.0 == "x-amz-request-id" }?.1
        if let root = S3XMLNode.parse(body), root.name == "Error" {
            return S3ErrorBody(code: root.value("Code") ?? "HTTP\(status)",
                               message: root.value("Message") ?? "",
                               requestID: root.value("RequestId") ?? headerID)
        }
        let code: String
        switch status {
        case 403: code = "AccessDenied"
        case 404: code = "NotFound"
        case 429: code = "TooManyRequests"
        case 500: code = "InternalError"
        case 503: code = "SlowDown"
        default: code = "HTTP\(status)"
        }
        return S3ErrorBody(code: code, message: "HTTP status \(status)", requestID: headerID)
    }
}
