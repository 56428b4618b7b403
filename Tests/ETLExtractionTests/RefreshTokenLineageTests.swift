import ETLExtraction
import XCTest

/// Which refresh token a start uses: the table of cases in `RefreshTokenLineage.choose`.
final class RefreshTokenLineageTests: XCTestCase {
    func testChoice() {
        let f1 = "file-token-one", f2 = "file-token-two"
        let p1 = RefreshTokenLineage.fingerprint(f1)
        XCTAssertTrue(p1.hasPrefix("sha256:"))
        XCTAssertEqual(p1.count, 7 + 64)
        XCTAssertFalse(p1.contains(f1))
        XCTAssertNotEqual(p1, RefreshTokenLineage.fingerprint(f2))

        let rotated = RefreshTokenLineage.Stored(token: "rotated", origin: p1)
        // The stored chain descends from the file's token: it is newer.
        XCTAssertEqual(RefreshTokenLineage.choose(supplied: f1, stored: rotated),
                       .init(token: "rotated", origin: p1, source: .stored, storedIsObsolete: false))
        // The operator replaced the file: its token wins, the old chain is obsolete.
        XCTAssertEqual(RefreshTokenLineage.choose(supplied: f2, stored: rotated),
                       .init(token: f2, origin: RefreshTokenLineage.fingerprint(f2), source: .supplied, storedIsObsolete: true))
        // A login token (no origin) yields to a supplied token and is kept.
        XCTAssertEqual(RefreshTokenLineage.choose(supplied: f1, stored: .init(token: "login", origin: nil)),
                       .init(token: f1, origin: p1, source: .supplied, storedIsObsolete: false))
        // Only one of them.
        XCTAssertEqual(RefreshTokenLineage.choose(supplied: nil, stored: rotated),
                       .init(token: "rotated", origin: p1, source: .stored, storedIsObsolete: false))
        XCTAssertEqual(RefreshTokenLineage.choose(supplied: f1, stored: nil),
                       .init(token: f1, origin: p1, source: .supplied, storedIsObsolete: false))
        XCTAssertEqual(RefreshTokenLineage.choose(supplied: nil, stored: nil),
                       .init(token: nil, origin: nil, source: .none, storedIsObsolete: false))
    }
}
