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
