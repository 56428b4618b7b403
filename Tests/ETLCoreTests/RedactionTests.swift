import ETLCore
import XCTest

final class RedactionTests: XCTestCase {
    func testCredentialsAfterBearerAndBasicAreRedacted() {
        let basic = "ZjQ1MmQ3ZTYxYzljNDBiNDg5YmQ3NzM2N2U0N2VhOGI6c2VjcmV0c2VjcmV0c2VjcmV0"
        XCTAssertEqual(Redaction.redact("Authorization: Basic \(basic)"), "Authorization: Basic [REDACTED]")
        XCTAssertEqual(Redaction.redact("Bearer BQDxY_abc-123.def~ghi, next"), "Bearer [REDACTED], next")
        XCTAssertEqual(Redaction.redact("upload failed\nBearer sekrit-token-value"), "upload failed\nBearer [REDACTED]")
        XCTAssertEqual(Redaction.redact("?code=abc&state=x"), "?code=[REDACTED]&state=x")
    }

    /// Words after "Basic "/"Bearer " are not credentials: playlist names stay readable.
    func testOrdinaryWordsStayReadable() {
        XCTAssertEqual(Redaction.redact(#"snapshot committed: playlist 3WoU "Basic Mix": +4 −0"#),
                       #"snapshot committed: playlist 3WoU "Basic Mix": +4 −0"#)
        XCTAssertEqual(Redaction.redact("Bearer Of Bad News"), "Bearer Of Bad News")
    }
}

/// The byte search that lets lines without secrets skip the slow path, and the params it guards.
final class RedactionFastPathTests: XCTestCase {
    func testContainsFindsNeedlesAnywhereAndOnlyWhole() {
        XCTAssertTrue(Redaction.contains("a=1&code=xyz", "code="))
        XCTAssertTrue(Redaction.contains("code=", "code="))
        XCTAssertTrue(Redaction.contains("xxcode=", "code="))
        XCTAssertFalse(Redaction.contains("cod", "code="))
        XCTAssertFalse(Redaction.contains("code", "code="))
        XCTAssertFalse(Redaction.contains("", "code="))
        XCTAssertTrue(Redaction.contains("é Bearer é", "Bearer "))
    }

    func testEveryParamAndPrefixIsStillRedacted() {
        for key in Redaction.secretParams {
            let out = Redaction.redact("GET /x?a=1&\(key)=s3cr3tVALUE&b=2")
            XCTAssertFalse(out.contains("s3cr3tVALUE"), "\(key): \(out)")
            XCTAssertTrue(out.contains("\(key)=[REDACTED]&b=2"), "\(key): \(out)")
        }
        for prefix in Redaction.credentialPrefixes {
            let out = Redaction.redact("Authorization: \(prefix)QUJDREVGR0hJSktMTU5PUFFSU1RVVg==")
            XCTAssertEqual(out, "Authorization: \(prefix)[REDACTED]")
        }
        XCTAssertEqual(Redaction.redact("polled 37i9dQZF1DXcBWIGoYBM5M: 3 items", secrets: ["hunter22"]),
                       "polled 37i9dQZF1DXcBWIGoYBM5M: 3 items")
        XCTAssertEqual(Redaction.redact("pw hunter22 here", secrets: ["hunter22"]), "pw [REDACTED] here")
    }
}
