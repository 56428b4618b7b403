import Crypto
import ETLHTTP
import FoundationEssentials

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
        let d = body.map { b in digests ?? BodyDigests(b) }
        var req = make(method: method, key: key, query: pairs, headers: extra, digests: d, objectChecksum: objectChecksum,
                       credentials: credentials, date: date, timeout: timeout)
        req.body = body
        return req
    }

    /// The same request with a body streamed from a file range (PutObject of a spool file,
    /// UploadPart). `digests` must be those of exactly that range (`BodyDigests(file:)`):
    /// the builder stays free of I/O, and the signed headers are identical to sending the
    /// range's bytes as `Data`.
    public func build(method: String, key: String?, query pairs: [(String, String)] = [], headers extra: [(String, String)] = [],
                      file: FileBody, digests: BodyDigests, objectChecksum: Bool = false,
                      credentials: AWSCredentials, date: Date, timeout: Double = 120) -> HTTPRequest {
        var req = make(method: method, key: key, query: pairs, headers: extra, digests: digests, objectChecksum: objectChecksum,
                       credentials: credentials, date: date, timeout: timeout)
        req.bodyFile = file
        return req
    }

    /// Signed headers and URL; `digests` nil means no body.
    private func make(method: String, key: String?, query pairs: [(String, String)], headers extra: [(String, String)],
                      digests: BodyDigests?, objectChecksum: Bool, credentials: AWSCredentials, date: Date, timeout: Double) -> HTTPRequest {
        let path = key.map { endpoint.path(forKey: $0) } ?? (endpoint.bucketPath.isEmpty ? "/" : endpoint.bucketPath)
        let q = S3RequestBuilder.query(pairs)
        var headers: [(String, String)] = [("Host", endpoint.authority)]
        headers += extra
        let payloadHash: String
        if let d = digests {
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
        return HTTPRequest(method: method, url: endpoint.url(path: path, query: q), headers: headers, timeout: timeout)
    }
}
