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
