import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A minimal XML tree for S3's small response documents (errors, listings, multipart
/// replies). Namespaces are ignored; only element names and text matter.
final class S3XMLNode {
    let name: String
    var text = ""
    var children: [S3XMLNode] = []
    init(name: String) { self.name = name }

    func child(_ name: String) -> S3XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [S3XMLNode] { children.filter { $0.name == name } }
    func value(_ name: String) -> String? { child(name)?.text }

    /// Parses a document; nil when it is not XML (an empty body, an HTML proxy page).
    static func parse(_ data: Data) -> S3XMLNode? {
        guard !data.isEmpty else { return nil }
        let builder = Builder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else { return nil }
        return root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [S3XMLNode] = []
        var root: S3XMLNode?
        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
            let node = S3XMLNode(name: elementName)
            stack.last?.children.append(node)
            if root == nil { root = node }
            stack.append(node)
        }
        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
            _ = stack.popLast()
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) {
            stack.last?.text += string
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
