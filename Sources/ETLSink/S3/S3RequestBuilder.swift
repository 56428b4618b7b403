import Crypto
import ETLHTTP
import Foundation

/// Digests of one request body, computed once: the SigV4 payload hash (hex SHA-256), the
/// `x-amz-checksum-sha256` value (base64 SHA-256) and `Content-MD5` (base64 MD5), whose hex
/// form is also the ETag S3 must echo for a single PUT or a part.
public struct BodyDigests: Sendable, Equatable {
    public var sha256Hex: String
    public var sha256Base64: String
    public var md5Base64: String
    public var md5Hex: String
    public var md5Bytes: [UInt8]

    public init(_ body: Data) {
        let sha = Array(SHA256.hash(data: body))
        let md5 = Array(Insecure.MD5.hash(data: body))
        sha256Hex = SigV4Signer.hex(sha)
        sha256Base64 = Data(sha).base64EncodedString()
        md5Bytes = md5
        md5Hex = SigV4Signer.hex(md5)
        md5Base64 = Data(md5).base64EncodedString()
    }
}

/// Builds signed S3 requests. Pure apart from the inputs: the same arguments give the same
/// bytes, which the unit test checks against the body actually attached.
public struct S3RequestBuilder: Sendable {
    public let endpoint: S3Endpoint
    public let signer: SigV4Signer

    public init(endpoint: S3Endpoint, region: String) {
        self.endpoint = endpoint
        self.signer = .s3(region: region)
    }

    /// Wire query: names and values AWS-encoded, in the order given ("uploads" alone when
    /// the value is empty, as S3 documents it).
    public static func query(_ pairs: [(String, String)]) -> String {
        pairs.map { $0.1.isEmpty ? SigV4Signer.uriEncode($0.0) : "\(SigV4Signer.uriEncode($0.0))=\(SigV4Signer.uriEncode($0.1))" }
            .joined(separator: "&")
    }

    /// - Parameters:
    ///   - key: the full object key, or nil for a bucket-level request (list).
    ///   - body: sent as is; nil for GET/HEAD/DELETE.
    ///   - digests: precomputed digests of `body` (computed here when nil).
    ///   - objectChecksum: send `x-amz-checksum-sha256` (PutObject, UploadPart); never on
    ///     CompleteMultipartUpload, where it would claim a whole-object checksum.
    public func build(method: String, key: String?, query pairs: [(String, String)] = [], headers extra: [(String, String)] = [],
                      body: Data? = nil, digests: BodyDigests? = nil, objectChecksum: Bool = false,
                      credentials: AWSCredentials, date: Date, timeout: Double = 120) -> HTTPRequest {
        let path = key.map { endpoint.path(forKey: $0) } ?? (endpoint.bucketPath.isEmpty ? "/" : endpoint.bucketPath)
        let q = S3RequestBuilder.query(pairs)
        var headers: [(String, String)] = [("Host", endpoint.authority)]
        headers += extra
        let payloadHash: String
        if let body {
            let d = digests ?? BodyDigests(body)
            headers.append(("Content-MD5", d.md5Base64))
            if objectChecksum { headers.append(("x-amz-checksum-sha256", d.sha256Base64)) }
            payloadHash = d.sha256Hex
        } else {
            payloadHash = SigV4Signer.emptyPayloadHash
        }
        headers.append(("x-amz-content-sha256", payloadHash))
        headers.append(("x-amz-date", SigV4Signer.amzDate(date)))
        if let t = credentials.sessionToken { headers.append(("x-amz-security-token", t)) }
        let sig = signer.sign(method: method, path: path, query: q, headers: headers, payloadHash: payloadHash,
                              credentials: credentials, date: date)
        headers.append(("Authorization", sig.authorization))
        return HTTPRequest(method: method, url: endpoint.url(path: path, query: q), headers: headers, body: body, timeout: timeout)
    }
}
