import ETLHTTP
import Foundation
import XCTest

@testable import ETLSink

/// Pure parts of the retry story: the S3 XML error parser, classification and backoff.
/// End-to-end retry behaviour over moto is in S3MotoTests.
final class S3RetryTests: XCTestCase {
    func testErrorBodyParsing() {
        let xml = Data("""
        <?xml version="1.0" encoding="UTF-8"?>
        <Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>
        """.utf8)
        XCTAssertEqual(S3ErrorBody.parse(status: 503, body: xml), S3ErrorBody(code: "SlowDown", message: "Please reduce your request rate.", requestID: "4442587FB7D0A2F9"))
        XCTAssertEqual(S3ErrorBody.parse(status: 403, body: Data(), headers: [("x-amz-request-id", "R1")]).code, "AccessDenied")
        XCTAssertEqual(S3ErrorBody.parse(status: 403, body: Data(), headers: [("x-amz-request-id", "R1")]).requestID, "R1")
        XCTAssertEqual(S3ErrorBody.parse(status: 502, body: Data("<html>bad gateway".utf8)).code, "HTTP502")
    }

    func testClassification() {
        for (s, c) in [(500, "InternalError"), (503, "SlowDown"), (400, "RequestTimeout"), (429, "TooManyRequests"), (502, "HTTP502")] {
            XCTAssertTrue(S3RetryPolicy.isRetryable(status: s, code: c), "\(s) \(c)")
        }
        for (s, c) in [(403, "SignatureDoesNotMatch"), (403, "AccessDenied"), (403, "InvalidAccessKeyId"), (404, "NoSuchBucket"), (400, "InvalidArgument")] {
            XCTAssertFalse(S3RetryPolicy.isRetryable(status: s, code: c), "\(s) \(c)")
        }
        XCTAssertTrue(S3RetryPolicy.isCredentialRejection(status: 403, code: "ExpiredToken"))
        XCTAssertFalse(S3RetryPolicy.isCredentialRejection(status: 403, code: "SignatureDoesNotMatch"))
    }

    func testBackoffGrowsIsJitteredAndCapped() {
        let lo = S3RetryPolicy(baseDelay: 0.2, maxDelay: 1, random: { 0 })
        let hi = S3RetryPolicy(baseDelay: 0.2, maxDelay: 1, random: { 0.999 })
        XCTAssertEqual(lo.delay(afterAttempt: 0), 0.1, accuracy: 1e-9)
        XCTAssertEqual(hi.delay(afterAttempt: 0), 0.2, accuracy: 1e-3)
        XCTAssertEqual(lo.delay(afterAttempt: 1), 0.2, accuracy: 1e-9)
        XCTAssertEqual(hi.delay(afterAttempt: 10), 1.0, accuracy: 1e-3)
    }
}

/// The hand-written XML reader that replaced FoundationXML for S3's replies.
final class S3XMLReaderTests: XCTestCase {
    func testDocumentsS3Sends() throws {
        let initiate = Data("""
        <?xml version="1.0" encoding="UTF-8"?>
        <InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
          <Bucket>b</Bucket><Key>playlist_items/dt=2026-11-25/a &amp; b.ndjson.gz</Key>
          <UploadId>VXBsb2FkIElE&#x2B;&#43;</UploadId>
        </InitiateMultipartUploadResult>
        """.utf8)
        let root = try XCTUnwrap(S3XMLNode.parse(initiate))
        XCTAssertEqual(root.name, "InitiateMultipartUploadResult")
        XCTAssertEqual(root.value("Key"), "playlist_items/dt=2026-11-25/a & b.ndjson.gz")
        XCTAssertEqual(root.value("UploadId"), "VXBsb2FkIElE++")

        let error = Data("<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match &lt;yours&gt; &quot;x&quot; &apos;y&apos;</Message><RequestId>R1</RequestId><Empty/></Error>".utf8)
        let parsed = S3ErrorBody.parse(status: 403, body: error)
        XCTAssertEqual(parsed.code, "SignatureDoesNotMatch")
        XCTAssertEqual(parsed.message, "The request signature we calculated does not match <yours> \"x\" 'y'")
        XCTAssertEqual(parsed.requestID, "R1")

        let list = Data("<ListBucketResult><!-- c --><Contents><Key><![CDATA[a<b>]]></Key><Size>3</Size></Contents><Contents><Key>k2</Key></Contents></ListBucketResult>".utf8)
        let l = try XCTUnwrap(S3XMLNode.parse(list))
        XCTAssertEqual(l.all("Contents").compactMap { $0.value("Key") }, ["a<b>", "k2"])
        XCTAssertEqual(S3XMLNode.parse(Data("\u{FEFF}<a x='1' y=\"2\">é</a>".utf8))?.text, "é")
    }

    func testMalformedDocumentsAreNil() {
        for bad in ["", "<html>bad gateway", "<a></b>", "<a>x</a><b/>", "text", "<a>&bogus;</a>", "<a>&#0;</a>",
                    "<a><![CDATA[x</a>", "<a", "<a x=1></a>", "<a><!-- x </a>", "</a>"] {
            XCTAssertNil(S3XMLNode.parse(Data(bad.utf8)), bad)
        }
    }
}
