import Crypto
import ETLHTTP
import ETLTestSupport
import Foundation
import XCTest

@testable import ETLSink

/// Every S3 request shape our client sends, signed by us and by botocore's S3SigV4Auth
/// (scripts/testsupport/botocore_sign.py, a subprocess); URL, canonical request and
/// Authorization must match exactly.
final class SigV4BotocoreTests: XCTestCase {
    let creds = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    let tokenCreds = AWSCredentials(accessKeyID: "ASIAEXAMPLE", secretAccessKey: "secret/with+chars=", sessionToken: "FwoGZXIvYXdzE//token+with/slash=")
    let date = Date(timeIntervalSince1970: 1_764_067_200)  // 2025-11-25T10:40:00Z

    func botocore(_ spec: [String: Any]) throws -> [String: Any] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", TestSupport.packageRoot + "/scripts/testsupport/botocore_sign.py"]
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe; p.standardOutput = outPipe; p.standardError = errPipe
        try p.run()
        inPipe.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: spec))
        try inPipe.fileHandleForWriting.close()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        let err = errPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: err, as: UTF8.self))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: out) as? [String: Any])
    }

    struct Case {
        var name: String
        var method: String
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body: Data? = nil
        var checksum = false
    }

    func compare(_ c: Case, credentials: AWSCredentials, pathStyle: Bool = true) throws {
        let settings = S3Settings(bucket: "etl-bucket", region: "eu-west-1", endpoint: "http://127.0.0.1:9000", pathStyle: pathStyle)
        let builder = S3RequestBuilder(endpoint: try S3Endpoint(settings: settings), region: "eu-west-1")
        let req = builder.build(method: c.method, key: c.key, query: c.query, headers: c.headers, body: c.body,
                                objectChecksum: c.checksum, credentials: credentials, date: date)
        // Everything we send except what botocore adds itself goes in the spec.
        let skip: Set<String> = ["authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"]
        var spec: [String: Any] = [
            "method": c.method, "endpoint": "http://127.0.0.1:9000", "bucket": "etl-bucket", "key": c.key ?? "",
            "query": c.query.map { [$0.0, $0.1] },
            "headers": req.headers.filter { !skip.contains($0.0.lowercased()) }.map { [$0.0, $0.1] },
            "time": SigV4Signer.amzDate(date), "access_key": credentials.accessKeyID,
            "secret_key": credentials.secretAccessKey, "region": "eu-west-1",
        ]
        if let t = credentials.sessionToken { spec["token"] = t }
        if let b = c.body { spec["body_hex"] = SigV4Signer.hex(Array(b)) }
        let ref = try botocore(spec)
        let ourCreq = builder.signer.sign(method: c.method, path: URLComponentsLite.path(req.url), query: URLComponentsLite.query(req.url),
                                          headers: req.headers.filter { $0.0 != "Authorization" },
                                          payloadHash: req.headers.first { $0.0 == "x-amz-content-sha256" }!.1,
                                          credentials: credentials, date: date).canonicalRequest
        // botocore sorts the wire query only in the canonical form; our wire order may differ.
        XCTAssertEqual(URLComponentsLite.path(req.url), URLComponentsLite.path(ref["url"] as? String ?? ""), c.name)
        XCTAssertEqual(ourCreq, ref["canonical_request"] as? String, c.name)
        XCTAssertEqual(req.headers.first { $0.0 == "Authorization" }?.1, ref["authorization"] as? String, c.name)
    }

    var cases: [Case] {
        let body = Data("{\"a\":1}\n".utf8)
        let key = "warehouse/table=plays/dt=2026-11-25/hour=10/part 0001+x=ü~東京.ndjson.gz"
        return [
            Case(name: "PutObject", method: "PUT", key: key,
                 headers: [("Content-Type", "application/x-ndjson"), ("Content-Encoding", "gzip"), ("x-amz-storage-class", "STANDARD_IA")],
                 body: body, checksum: true),
            Case(name: "CreateMultipartUpload", method: "POST", key: key, query: [("uploads", "")],
                 headers: [("Content-Type", "application/x-ndjson"), ("x-amz-checksum-algorithm", "SHA256")], body: Data()),
            Case(name: "UploadPart", method: "PUT", key: key, query: [("partNumber", "2"), ("uploadId", "abc/def+ghi=")], body: body, checksum: true),
            Case(name: "CompleteMultipartUpload", method: "POST", key: key, query: [("uploadId", "abc/def+ghi=")],
                 headers: [("Content-Type", "application/xml")], body: Data("<CompleteMultipartUpload/>".utf8)),
            Case(name: "AbortMultipartUpload", method: "DELETE", key: key, query: [("uploadId", "abc/def+ghi=")]),
            Case(name: "HeadObject", method: "HEAD", key: key),
            Case(name: "GetObject", method: "GET", key: key, headers: [("Accept-Encoding", "identity")]),
            Case(name: "DeleteObject", method: "DELETE", key: "a b/c%d"),
            Case(name: "ListObjectsV2", method: "GET", key: nil,
                 query: [("list-type", "2"), ("prefix", "warehouse/dt=2026-11-25/"), ("continuation-token", "1/x+y=z")]),
            Case(name: "ListMultipartUploads", method: "GET", key: nil, query: [("uploads", ""), ("prefix", "a/")]),
        ]
    }

    func testEveryS3RequestShapeMatchesBotocore() throws {
        for c in cases { try compare(c, credentials: creds) }
    }

    func testEveryS3RequestShapeMatchesBotocoreWithSessionToken() throws {
        for c in cases { try compare(c, credentials: tokenCreds) }
    }

    /// The headers we send describe the bytes we send: payload hash, Content-MD5 and the
    /// SHA-256 checksum recomputed here independently from the request body.
    func testBodyHeadersMatchTheBytesSent() throws {
        let settings = S3Settings(bucket: "etl-bucket", endpoint: "http://127.0.0.1:9000", pathStyle: true)
        let builder = S3RequestBuilder(endpoint: try S3Endpoint(settings: settings), region: "us-east-1")
        let body = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let req = builder.build(method: "PUT", key: "k", body: body, objectChecksum: true, credentials: tokenCreds, date: date)
        func h(_ n: String) -> String? { req.headers.first { $0.0.lowercased() == n }?.1 }
        let sent = try XCTUnwrap(req.body)
        XCTAssertEqual(h("x-amz-content-sha256"), SHA256.hash(data: sent).map { String(format: "%02x", $0) }.joined())
        XCTAssertEqual(h("content-md5"), Data(Insecure.MD5.hash(data: sent)).base64EncodedString())
        XCTAssertEqual(h("x-amz-checksum-sha256"), Data(SHA256.hash(data: sent)).base64EncodedString())
        XCTAssertEqual(h("x-amz-security-token"), tokenCreds.sessionToken)
        XCTAssertEqual(h("x-amz-date"), "20251125T104000Z")
        XCTAssertTrue(h("authorization")?.contains("SignedHeaders=content-md5;host;x-amz-checksum-sha256;x-amz-content-sha256;x-amz-date;x-amz-security-token") ?? false)
        // A bodiless request hashes the empty payload and carries no body checksums.
        let get = builder.build(method: "GET", key: "k", credentials: creds, date: date)
        XCTAssertEqual(get.headers.first { $0.0 == "x-amz-content-sha256" }?.1, SigV4Signer.emptyPayloadHash)
        XCTAssertNil(get.headers.first { $0.0 == "Content-MD5" })
        // Keys: `=` → %3D, space → %20, `+` → %2B, unicode → UTF-8 bytes, `/` kept.
        XCTAssertEqual(get.url, "http://127.0.0.1:9000/etl-bucket/k")
        XCTAssertEqual(builder.endpoint.path(forKey: "dt=2026-01-01/a b+ü"), "/etl-bucket/dt%3D2026-01-01/a%20b%2B%C3%BC")
    }

    func testVirtualHostedStyleMatchesBotocoreHostHeader() throws {
        let s = S3Settings(bucket: "etl-bucket", region: "eu-west-1")
        let ep = try S3Endpoint(settings: s)
        XCTAssertEqual(ep.authority, "etl-bucket.s3.eu-west-1.amazonaws.com")
        XCTAssertEqual(ep.url(path: ep.path(forKey: "a=b"), query: ""), "https://etl-bucket.s3.eu-west-1.amazonaws.com/a%3Db")
    }

    func testHTTPEndpointsOnlyForLoopback() {
        for ok in ["http://127.0.0.1:9000", "http://127.1.2.3", "http://localhost:4566", "http://[::1]:9000", "https://minio.example.com"] {
            XCTAssertNoThrow(try S3Endpoint(settings: S3Settings(bucket: "etl-bucket", endpoint: ok, pathStyle: true)), ok)
        }
        for bad in ["http://10.0.0.5:9000", "http://example.com", "http://127.0.0.1.evil.com", "http://localhost.evil.com",
                    "ftp://127.0.0.1", "127.0.0.1:9000", "http://[::2]:80"] {
            XCTAssertThrowsError(try S3Endpoint(settings: S3Settings(bucket: "etl-bucket", endpoint: bad, pathStyle: true)), bad) { e in
                XCTAssertTrue(e is S3ConfigError, "\(e)")
            }
        }
        XCTAssertThrowsError(try S3Endpoint(settings: S3Settings(bucket: "Bad_Bucket")))
    }
}

/// Splits our own URLs (always scheme://authority/path?query) without Foundation's URL,
/// which would re-encode.
enum URLComponentsLite {
    static func path(_ url: String) -> String {
        guard let r = url.range(of: "://") else { return url }
        let rest = url[r.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "/" }
        let p = rest[slash...]
        return String(p.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }
    static func query(_ url: String) -> String {
        guard let q = url.firstIndex(of: "?") else { return "" }
        return String(url[url.index(after: q)...])
    }
}
