import ETLCore
import XCTest

/// `Shard`: the documented hash (FNV-1a 64 of the id's UTF-8 bytes) and `hash % count`.
final class ShardTests: XCTestCase {
    /// Published FNV-1a 64 test vectors, then the playlist ids docs/configuration.md and
    /// etc/spotifyd-etl.toml use. A change here moves playlists between running instances.
    func testHashTable() {
        let table: [(String, UInt64)] = [
            ("", 0xcbf2_9ce4_8422_2325),
            ("a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", 0x8594_4171_f739_67e8),
            ("37i9dQZF1DXcBWIGoYBM5M", 0x247e_5987_4dff_b51a),
            ("37i9dQZF1DX0XUsuxWHRQd", 0xc26e_12f1_2be6_856e),
        ]
        for (id, want) in table {
            XCTAssertEqual(Shard.hash(id), want, id)
        }
    }

    func testAssignmentTable() {
        // (playlist id, shard_count, shard)
        let table: [(String, Int, Int)] = [
            ("37i9dQZF1DXcBWIGoYBM5M", 1, 0),
            ("37i9dQZF1DXcBWIGoYBM5M", 2, 0),
            ("37i9dQZF1DXcBWIGoYBM5M", 3, 1),
            ("37i9dQZF1DXcBWIGoYBM5M", 5, 0),
            ("37i9dQZF1DXcBWIGoYBM5M", 1024, 282),
            ("37i9dQZF1DX0XUsuxWHRQd", 2, 0),
            ("37i9dQZF1DX0XUsuxWHRQd", 3, 2),
            ("37i9dQZF1DX0XUsuxWHRQd", 5, 4),
            ("37i9dQZF1DXcF6B6QPhFDv", 2, 1),
            ("37i9dQZF1DXcF6B6QPhFDv", 5, 2),
            ("5ABHKGoOzxkaa28ttQV9sE", 3, 1),
            ("5ABHKGoOzxkaa28ttQV9sE", 1024, 998),
        ]
        for (id, count, want) in table {
            XCTAssertEqual(Shard.of(id, count: count), want, "\(id) with \(count) shards")
            for index in 0..<min(count, 8) {
                XCTAssertEqual(Shard(index: index, count: count)!.owns(id), index == want, "\(id) shard \(index)/\(count)")
            }
        }
    }

    func testBoundsOfIndexAndCount() {
        XCTAssertNil(Shard(index: 0, count: 0))
        XCTAssertNil(Shard(index: -1, count: 3))
        XCTAssertNil(Shard(index: 3, count: 3))
        XCTAssertNil(Shard(index: 0, count: 1025))
        XCTAssertEqual(Shard(index: 1023, count: 1024)?.description, "1023/1024")
        XCTAssertEqual(Shard(index: 2, count: 5)?.description, "2/5")
    }

    /// Every id is in exactly one shard, and base62 ids of the real shape spread evenly.
    func testPartitionAndDistribution() {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        var rng = SplitMix64(seed: 14)
        let ids = (0..<10_000).map { _ in String((0..<22).map { _ in alphabet[Int(rng.next() % 62)] }) }
        for count in [2, 3, 5, 7, 16] {
            let shards = (0..<count).map { Shard(index: $0, count: count)! }
            var sizes = Array(repeating: 0, count: count)
            for id in ids {
                let owners = shards.filter { $0.owns(id) }
                XCTAssertEqual(owners.count, 1, id)
                if let o = owners.first { sizes[o.index] += 1 }
            }
            let expected = Double(ids.count) / Double(count)
            for (i, n) in sizes.enumerated() {
                XCTAssertLessThan(abs(Double(n) - expected), expected * 0.1, "shard \(i)/\(count) has \(n) of \(ids.count)")
            }
        }
        // `select` keeps list order and takes exactly the owned ids.
        let shard = Shard(index: 1, count: 3)!
        XCTAssertEqual(shard.select(ids, id: { $0 }), ids.filter { Shard.of($0, count: 3) == 1 })
    }
}
