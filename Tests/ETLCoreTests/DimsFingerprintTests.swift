import ETLCore
import XCTest

/// `DimsFingerprint` is persisted (`seen.dims`) and compared across processes and releases:
/// its values are pinned here (computed independently, in Python, from the documented
/// definition), so an accidental change of the definition fails loudly.
final class DimsFingerprintTests: XCTestCase {
    func testKnownValues() {
        XCTAssertEqual(DimsFingerprint.of(albumID: "6XzE9JxZ6qmtuSZ1bjVTGC", artistIDs: ["0gxyHStUsqpMadRV0Di1Qt"]),
                       0x88FE_3EC4_6A35_E947)
        XCTAssertEqual(DimsFingerprint.of(albumID: "album", artistIDs: [String]()), 0xCBB0_FF8F_5FDC_A217)
        XCTAssertEqual(DimsFingerprint.of(albumID: "", artistIDs: [String]()), 0x3976_DF2C_A7D5_EFBD)
        XCTAssertEqual(DimsFingerprint.of(albumID: "L000000000000000000001",
                                          artistIDs: ["R000000000000000000000", "R00000000000000000000F", "R000000000000000000000"]),
                       0xC796_153C_97CC_C896)
    }

    func testArtistOrderAndRepeatsDoNotMatter() {
        let ab = DimsFingerprint.of(albumID: "album", artistIDs: ["a", "b"])
        XCTAssertEqual(ab, 0x0595_8A9B_A8FC_2C62)
        XCTAssertEqual(DimsFingerprint.of(albumID: "album", artistIDs: ["b", "a"]), ab)
        XCTAssertEqual(DimsFingerprint.of(albumID: "album", artistIDs: ["b", "a", "b", "a"]), ab)
        XCTAssertEqual(DimsFingerprint.of(albumID: "6XzE9JxZ6qmtuSZ1bjVTGC",
                                          artistIDs: ["0gxyHStUsqpMadRV0Di1Qt", "0gxyHStUsqpMadRV0Di1Qt"]),
                       0x88FE_3EC4_6A35_E947)
    }

    func testEveryIdAndItsRoleCount() {
        let base = DimsFingerprint.of(albumID: "album", artistIDs: ["a", "b"])
        XCTAssertNotEqual(DimsFingerprint.of(albumID: "album", artistIDs: ["a"]), base, "an artist less")
        XCTAssertNotEqual(DimsFingerprint.of(albumID: "album", artistIDs: ["a", "b", "c"]), base, "an artist more")
        XCTAssertNotEqual(DimsFingerprint.of(albumID: "albun", artistIDs: ["a", "b"]), base, "another album")
        // Which id is the album matters, and id boundaries cannot shift.
        XCTAssertNotEqual(DimsFingerprint.of(albumID: "a", artistIDs: ["album", "b"]), base)
        let aLbum = DimsFingerprint.of(albumID: "a", artistIDs: ["lbum"])
        let albUm = DimsFingerprint.of(albumID: "alb", artistIDs: ["um"])
        XCTAssertEqual(aLbum, 0x9123_E5CD_4F82_477F)
        XCTAssertEqual(albUm, 0xD1BB_4A06_DCD2_2F63)
        XCTAssertNotEqual(DimsFingerprint.of(albumID: "ab", artistIDs: [String]()),
                          DimsFingerprint.of(albumID: "a", artistIDs: ["b"]))
    }

    func testIdsAreComparedByBytesNotByUnicodeEquivalence() {
        // "é" precomposed and decomposed are equal Swift Strings but different ids (and
        // different keys in SQLite): both count, as two artists.
        let pre = "\u{E9}", de = "e\u{301}"
        XCTAssertEqual(DimsFingerprint.of(albumID: pre, artistIDs: [de]), 0x3EF7_3FD9_B869_3C44)
        XCTAssertNotEqual(DimsFingerprint.of(albumID: "x", artistIDs: [pre]), DimsFingerprint.of(albumID: "x", artistIDs: [de]))
        XCTAssertNotEqual(DimsFingerprint.of(albumID: "x", artistIDs: [pre, de]), DimsFingerprint.of(albumID: "x", artistIDs: [pre]))
    }
}
