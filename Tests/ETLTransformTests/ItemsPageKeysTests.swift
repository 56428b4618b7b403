import XCTest
@testable import ETLTransform

/// `ItemsPageKeys` is the one list of keys read from an items page: the filter text, the
/// direct decoder's tables and the general reader come from it.
final class ItemsPageKeysTests: XCTestCase {
    func testFilterTextIsTheWireFormat() {
        let item = "album(album_type,artists(id,name),id,name,release_date,release_date_precision,total_tracks),"
            + "artists(id,name),disc_number,duration_ms,explicit,external_ids(isrc),id,is_local,name,popularity,"
            + "release_date,release_date_precision,show(id,name),track_number,type,uri"
        XCTAssertEqual(ItemsPageKeys.filterText(ItemsPageKeys.item), item)
        XCTAssertEqual(ItemsPageKeys.filterText(ItemsPageKeys.page(itemKey: .item)),
                       "items(added_at,added_by(id),is_local,item(\(item))),limit,next,offset,total")
        XCTAssertEqual(ItemsPageKeys.filterText(ItemsPageKeys.page(itemKey: .track)),
                       "items(added_at,added_by(id),is_local,track(\(item))),limit,next,offset,total")
    }

    private func check<K: CaseIterable & RawRepresentable & Sendable & Equatable>(_ table: KeyTable<K>)
    where K.RawValue == String {
        var bits: UInt32 = 0
        for k in K.allCases {
            var bytes = Array(k.rawValue.utf8)
            let m = bytes.withUnsafeBufferPointer { table.lookup($0.baseAddress!, $0.count) }
            XCTAssertEqual(m?.key, k, k.rawValue)
            XCTAssertEqual((m?.bit ?? 0).nonzeroBitCount, 1)
            XCTAssertEqual(bits & (m?.bit ?? 0), 0, "\(k.rawValue) shares a bit")
            bits |= m?.bit ?? 0
            // A prefix, a longer key and one changed byte are other keys.
            XCTAssertNil(bytes.withUnsafeBufferPointer { table.lookup($0.baseAddress!, $0.count - 1) }, k.rawValue)
            bytes.append(UInt8(ascii: "x"))
            XCTAssertNil(bytes.withUnsafeBufferPointer { table.lookup($0.baseAddress!, $0.count) }, k.rawValue)
            bytes.removeLast()
            bytes[bytes.count - 1] ^= 0x20
            XCTAssertNil(bytes.withUnsafeBufferPointer { table.lookup($0.baseAddress!, $0.count) }, k.rawValue)
        }
        // An escaped key (its bytes are not its text) is not a key of the table.
        let escaped = Array(#"\u0069d"#.utf8)
        XCTAssertNil(escaped.withUnsafeBufferPointer { table.lookup($0.baseAddress!, $0.count) })
    }

    func testEveryTableFindsExactlyItsKeys() {
        check(KeyTables.page); check(KeyTables.entry); check(KeyTables.addedBy); check(KeyTables.item)
        check(KeyTables.album); check(KeyTables.artist); check(KeyTables.externalIDs); check(KeyTables.show)
    }

    func testAllNamesCoverBothItemKeys() {
        let names = ItemsPageKeys.allNames
        for k in ["item", "track", "added_at", "isrc", "release_date_precision", "total_tracks", "offset"] {
            XCTAssertTrue(names.contains(k), k)
        }
        XCTAssertFalse(names.contains("href"))
    }
}
