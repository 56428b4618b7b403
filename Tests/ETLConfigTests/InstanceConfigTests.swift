import Foundation
import XCTest
@testable import ETLConfig

/// `[instance]`: `id`, `shard_index`, `shard_count`. Every bad value is one ConfigError naming
/// its key (the CLI prints it and exits 78).
final class InstanceConfigTests: XCTestCase {
    static let ids = ["37i9dQZF1DXcBWIGoYBM5M", "37i9dQZF1DX0XUsuxWHRQd", "37i9dQZF1DXcF6B6QPhFDv", "5ABHKGoOzxkaa28ttQV9sE"]

    func config(_ instance: String) -> String {
        Self.ids.map { "[[playlists]]\nid = \"\($0)\"\n" }.joined() + "[instance]\n" + instance + "\n"
    }

    func parse(_ instance: String) throws(ConfigError) -> AppConfig {
        try ConfigLoader.parse(text: config(instance), sourcePath: "/etc/instance.toml")
    }

    func testBadValuesNameTheirKey() {
        // (the [instance] body, the key the error names, text the message contains, typed violation)
        let table: [(String, String, String, ConfigViolation?)] = [
            ("id = \"\"", "instance.id", "1 to 32 characters", nil),
            ("id = \"\(String(repeating: "a", count: 33))\"", "instance.id", "1 to 32 characters", nil),
            ("id = \"Upper\"", "instance.id", "lowercase letters", nil),
            ("id = \"a_b\"", "instance.id", "lowercase letters", nil),
            ("id = \"a/b\"", "instance.id", "lowercase letters", nil),
            ("id = \"a.b\"", "instance.id", "lowercase letters", nil),
            ("id = \"é\"", "instance.id", "lowercase letters", nil),
            ("id = 3", "instance.id", "expected a string", nil),
            ("id = \"a\"\nshard_count = 0\nshard_index = 0", "instance.shard_count", "between 1 and 1024", .shardOutOfRange(1...1024)),
            ("id = \"a\"\nshard_count = 1025\nshard_index = 0", "instance.shard_count", "between 1 and 1024", .shardOutOfRange(1...1024)),
            ("id = \"a\"\nshard_count = -3\nshard_index = 0", "instance.shard_count", "between 1 and 1024", .shardOutOfRange(1...1024)),
            ("id = \"a\"\nshard_count = 5\nshard_index = 5", "instance.shard_index", "between 0 and 4", .shardOutOfRange(0...4)),
            ("id = \"a\"\nshard_count = 5\nshard_index = -1", "instance.shard_index", "between 0 and 4", .shardOutOfRange(0...4)),
            ("id = \"a\"\nshard_count = \"5\"\nshard_index = 0", "instance.shard_count", "expected an integer", nil),
            ("id = \"a\"\nshard_count = 5\nshard_index = 1.0", "instance.shard_index", "expected an integer", nil),
            ("id = \"a\"\nshard_count = 5", "instance.shard_index", "missing", nil),
            ("id = \"a\"\nshard_index = 0", "instance.shard_count", "missing", nil),
            ("shard_index = 1\nshard_count = 3", "instance.id", "missing", nil),
            ("id = \"a\"\nshard = 1", "instance.shard", "unknown key", nil),
        ]
        for (body, key, text, violation) in table {
            do {
                let c = try parse(body)
                XCTFail("accepted: \(body) → \(c.instance)")
            } catch {
                XCTAssertEqual(error.key, key, "\(body): \(error)")
                XCTAssertTrue(error.message.contains(text), "\(body): \(error) should contain \(text)")
                XCTAssertEqual(error.violation, violation, "\(body): \(error)")
                XCTAssertTrue(error.description.hasPrefix("/etc/instance.toml: \(key): "), "\(error)")
                XCTAssertFalse(error.description.contains("\n"), "one line: \(error)")
            }
        }
        // `[instance]` must be a table.
        do {
            _ = try ConfigLoader.parse(text: "instance = 3\n" + Self.ids.map { "[[playlists]]\nid = \"\($0)\"\n" }.joined(),
                                       sourcePath: "/etc/instance.toml")
            XCTFail("accepted instance = 3")
        } catch {
            XCTAssertEqual(error.key, "instance")
        }
    }

    func testGoodValues() throws {
        let none = try ConfigLoader.parse(text: Self.ids.map { "[[playlists]]\nid = \"\($0)\"\n" }.joined(), sourcePath: "x")
        XCTAssertEqual(none.instance, AppConfig.Instance())
        XCTAssertEqual(none.ownPlaylists, none.playlists)

        let empty = try parse("")
        XCTAssertNil(empty.instance.id)
        XCTAssertNil(empty.instance.shard)

        let idOnly = try parse("id = \"eu-west-2\"")
        XCTAssertEqual(idOnly.instance.id, "eu-west-2")
        XCTAssertNil(idOnly.instance.shard)
        XCTAssertEqual(idOnly.ownPlaylists.count, 4)

        let longest = String(repeating: "z9-", count: 10) + "ab"
        XCTAssertEqual(try parse("id = \"\(longest)\"").instance.id, longest)

        let edge = try parse("id = \"a\"\nshard_index = 1023\nshard_count = 1024")
        XCTAssertEqual(edge.instance.shard?.index, 1023)
        XCTAssertEqual(edge.instance.shard?.count, 1024)
    }

    /// The shards of one list partition it: every playlist in exactly one instance's
    /// `ownPlaylists`, in list order (see ShardTests for the hash's values).
    func testOwnPlaylistsPartitionTheList() throws {
        for count in 1...5 {
            var seen: [String] = []
            for index in 0..<count {
                let c = try parse("id = \"i\(index)\"\nshard_index = \(index)\nshard_count = \(count)")
                XCTAssertEqual(c.playlists.map(\.id), Self.ids, "every instance lists every playlist")
                let own = c.ownPlaylists.map(\.id)
                XCTAssertEqual(own, Self.ids.filter { own.contains($0) }, "list order kept")
                seen += own
            }
            XCTAssertEqual(seen.sorted(), Self.ids.sorted(), "\(count) shards")
        }
        // The documented example: 37i9dQZF1DXcBWIGoYBM5M is in shard 0 of 5, 37i9dQZF1DX0XUsuxWHRQd in shard 4.
        XCTAssertEqual(try parse("id = \"a\"\nshard_index = 0\nshard_count = 5").ownPlaylists.map(\.id).first, "37i9dQZF1DXcBWIGoYBM5M")
        XCTAssertTrue(try parse("id = \"a\"\nshard_index = 4\nshard_count = 5").ownPlaylists.map(\.id).contains("37i9dQZF1DX0XUsuxWHRQd"))
    }
}
