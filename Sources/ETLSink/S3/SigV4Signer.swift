import Crypto
import FoundationEssentials
import ETLCore
import Glibc

/// AWS Signature Version 4, pure: no I/O, no clock. The caller supplies the request as it
/// will go on the wire (path already percent-encoded for S3, header list in send order) and
/// the time; the signer returns every intermediate so tests can compare them with the AWS
/// test suite and with botocore byte for byte.
public struct SigV4Signer: Sendable {
    /// Generic services normalise the path (RFC 3986 dot segments, repeated slashes) and
    /// URI-encode the wire path again ("double encoding"). S3 does neither: the canonical URI
    /// is the wire path exactly as sent, which our S3 client encodes once per AWS rules.
    public enum PathRule: Sendable, Equatable {
        case generic
        case s3
    }

    public struct Signature: Sendable, Equatable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var signedHeaders: String
        public var authorization: String
        public var credentialScope: String
    }

    public let service: String
    public let region: String
    public let pathRule: PathRule

    public init(service: String, region: String, pathRule: PathRule = .generic) {
        self.service = service
        self.region = region
        self.pathRule = pathRule
    }

    public static func s3(region: String) -> SigV4Signer { SigV4Signer(service: "s3", region: region, pathRule: .s3) }

    /// Signs a request. `headers` must already contain `host` and `x-amz-date` (and the
    /// session token header if it is to be signed); every header given is signed, since all
    /// of them go on the wire and a proxy must not be able to alter any of them.
    public func sign(method: String, path: String, query: String, headers: [(String, String)],
                     payloadHash: String, credentials: AWSCredentials, date: Date) -> Signature {
        let amzDate = SigV4Signer.amzDate(date)
        let day = String(amzDate.prefix(8))
        let (canonHeaders, signed) = SigV4Signer.canonicalHeaders(headers)
        let creq = [
            method.uppercased(),
            canonicalURI(path),
            SigV4Signer.canonicalQuery(query),
            canonHeaders,
            signed,
            payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let sts = ["AWS4-HMAC-SHA256", amzDate, scope, SigV4Signer.hex(SHA256.hash(data: Data(creq.utf8)))].joined(separator: "\n")
        let key = SigV4Signer.signingKey(secret: credentials.secretAccessKey, day: day, region: region, service: service)
        let sig = SigV4Signer.hex(HMAC<SHA256>.authenticationCode(for: Data(sts.utf8), using: key))
        let authz = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signed), Signature=\(sig)"
        return Signature(canonicalRequest: creq, stringToSign: sts, signature: sig, signedHeaders: signed,
                         authorization: authz, credentialScope: scope)
    }

    public static func signingKey(secret: String, day: String, region: String, service: String) -> SymmetricKey {
        func h(_ key: SymmetricKey, _ msg: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(msg.utf8), using: key)))
        }
        let kDate = h(SymmetricKey(data: Data(("AWS4" + secret).utf8)), day)
        return h(h(h(kDate, region), service), "aws4_request")
    }

    // MARK: canonical parts

    public func canonicalURI(_ path: String) -> String {
        let p = path.isEmpty ? "/" : path
        switch pathRule {
        case .s3: return p
        case .generic: return SigV4Signer.uriEncode(SigV4Signer.normalizePath(p), keepSlash: true)
        }
    }

    /// RFC 3986 remove_dot_segments plus collapsing of empty segments; a trailing slash stays.
    public static func normalizePath(_ path: String) -> String {
        var out: [Substring] = []
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        for seg in parts {
            if seg == "." { continue }
            if seg == ".." { if !out.isEmpty { out.removeLast() }; continue }
            out.append(seg)
        }
        var result = "/" + out.joined(separator: "/")
        let lastIsDir = path.hasSuffix("/") || path.hasSuffix("/.") || path.hasSuffix("/..")
        if lastIsDir && !out.isEmpty { result += "/" }
        return result
    }

    /// The query as it appears on the wire ("a=1&b" …): each name and value is decoded and
    /// re-encoded with the AWS rule (unreserved kept, everything else %XX upper-case, so `=`
    /// in a value becomes %3D and a space %20), then sorted by name, then value.
    public static func canonicalQuery(_ query: String) -> String {
        if query.isEmpty { return "" }
        var pairs: [(String, String)] = []
        for item in query.split(separator: "&", omittingEmptySubsequences: true) {
            let name: Substring, value: Substring
            if let eq = item.firstIndex(of: "=") {
                name = item[..<eq]; value = item[item.index(after: eq)...]
            } else {
                name = item; value = ""
            }
            pairs.append((uriEncode(percentDecode(String(name))), uriEncode(percentDecode(String(value)))))
        }
        pairs.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Lower-cased names, values trimmed with inner whitespace runs collapsed to one space,
    /// duplicate names joined by "," in the order given, sorted by name.
    public static func canonicalHeaders(_ headers: [(String, String)]) -> (canonical: String, signed: String) {
        var order: [String] = []
        var values: [String: [String]] = [:]
        for (k, v) in headers {
            let name = k.lowercased()
            if values[name] == nil { order.append(name); values[name] = [] }
            values[name]!.append(collapse(v))
        }
        let names = order.sorted()
        let canon = names.map { "\($0):\(values[$0]!.joined(separator: ","))\n" }.joined()
        return (canon, names.joined(separator: ";"))
    }

    static func collapse(_ v: String) -> String {
        var out = ""
        var pendingSpace = false
        for ch in v.unicodeScalars {
            if ch == " " || ch == "\t" || ch == "\n" || ch == "\r" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.unicodeScalars.append(" "); pendingSpace = false }
                out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    // MARK: encoding helpers

    private static let unreservedTable: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8 { t[Int(b)] = true }
        return t
    }()
    private static let hexDigits = Array("0123456789ABCDEF".utf8)
    private static let lowerHex = Array("0123456789abcdef".utf8)

    /// AWS URI encoding: unreserved bytes kept, `/` kept only when asked, all else %XX.
    public static func uriEncode(_ s: String, keepSlash: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            if unreservedTable[Int(b)] || (keepSlash && b == UInt8(ascii: "/")) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%")); out.append(hexDigits[Int(b >> 4)]); out.append(hexDigits[Int(b & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// %XX decoding only; `+` stays `+` (AWS does not treat it as a space).
    public static func percentDecode(_ s: String) -> String {
        guard s.utf8.contains(UInt8(ascii: "%")) else { return s }
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        var i = 0
        func hv(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 65...70: return c - 55
            case 97...102: return c - 87
            default: return nil
            }
        }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let a = hv(bytes[i + 1]), let b = hv(bytes[i + 2]) {
                out.append(a << 4 | b); i += 3
            } else {
                out.append(bytes[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        var out: [UInt8] = []
        for b in digest { out.append(lowerHex[Int(b >> 4)]); out.append(lowerHex[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC, without DateFormatter (not thread-safe on every platform).
    public static func amzDate(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        return cFormat("%04d%02d%02dT%02d%02d%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    /// Parses an X-Amz-Date value back to a Date (for the test suite's requests).
    public static func parseAmzDate(_ s: String) -> Date? {
        let b = Array(s.utf8)
        guard b.count == 16, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "Z") else { return nil }
        func num(_ r: Range<Int>) -> Int? { Int(String(decoding: b[r], as: UTF8.self)) }
        guard let y = num(0..<4), let mo = num(4..<6), let d = num(6..<8), let h = num(9..<11), let mi = num(11..<13), let se = num(13..<15) else { return nil }
        var tm = tm()
        tm.tm_year = Int32(y - 1900); tm.tm_mon = Int32(mo - 1); tm.tm_mday = Int32(d)
        tm.tm_hour = Int32(h); tm.tm_min = Int32(mi); tm.tm_sec = Int32(se)
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tm)))
    }
}
