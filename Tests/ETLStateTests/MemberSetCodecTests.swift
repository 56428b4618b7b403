import ETLCore
import XCTest
@testable import ETLState

/// The membership blob must give back exactly what was stored, and a damaged blob must end in
/// a `DecodeError`, never a crash or a silently different membership.
final class MemberSetCodecTests: XCTestCase {
    private let sample: [Member] = [
        Member(itemKey: "4uLU6hMCjMI75M1A2tKUQC", itemType: .track, trackID: "4uLU6hMCjMI75M1A2tKUQC", episodeID: nil,
               position: 0, addedAt: "2026-01-02T03:04:05Z", addedBy: "alice"),
        Member(itemKey: "4uLU6hMCjMI75M1A2tKUQC", itemType: .track, trackID: "4uLU6hMCjMI75M1A2tKUQC", episodeID: nil,
               position: 1, addedAt: nil, addedBy: nil, dims: 0xFEDC_BA98_7654_3210),
        Member(itemKey: "spotify:local:Art%C3%AFst:Alb:Caf%C3%A9+%F0%9F%8E%B5:241", itemType: .local, trackID: nil,
               episodeID: nil, position: 2, addedAt: "2026-01-02T03:04:05Z", addedBy: ""),
        Member(itemKey: "512ojhOuo1ktJprKbVcKyQ", itemType: .episode, trackID: nil, episodeID: "512ojhOuo1ktJprKbVcKyQ",
               position: 300, addedAt: nil, addedBy: "ünïcødé 名前 👩‍👩‍👧"),
        // ids that differ from the key are stored as given
        Member(itemKey: "k", itemType: .track, trackID: "other", episodeID: "e", position: 9_999_999, addedAt: "", addedBy: nil),
    ]

    func testRoundTrip() throws {
        XCTAssertEqual(try MemberSetCodec.decode(MemberSetCodec.encode(sample)), sample)
        XCTAssertEqual(try MemberSetCodec.decode(MemberSetCodec.encode([])), [])
        let many = (0..<10_000).map { i in
            Member(itemKey: "t\(i % 37)", itemType: .track, trackID: "t\(i % 37)", episodeID: nil, position: i,
                   addedAt: i % 5 == 0 ? nil : "2026-11-25T00:00:00Z", addedBy: "u\(i % 3)",
                   dims: i % 4 == 0 ? nil : UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
        }
        XCTAssertEqual(try MemberSetCodec.decode(MemberSetCodec.encode(many)), many)
    }

    func testTrackIDEqualToKeyIsNotStoredTwice() {
        let m = sample[0]
        let blob = MemberSetCodec.encode([m])
        XCTAssertEqual(blob.count, 1 + 1 + 1 + 1 + (1 + 22) + 1 + (1 + 20) + (1 + 5),
                       "version, count, flags, position, key, nil episode_id, added_at, added_by")
    }

    /// A version-1 blob (stored before fingerprints) still reads, with no dims.
    func testReadsVersionOne() throws {
        // version 1, one member: track, track_id == key, position 3, key "ab", nil episode_id,
        // added_at "x", added_by nil
        let v1: [UInt8] = [1, 1, 0 | 4, 3, 3, UInt8(ascii: "a"), UInt8(ascii: "b"), 0, 2, UInt8(ascii: "x"), 0]
        XCTAssertEqual(try MemberSetCodec.decode(v1),
                       [Member(itemKey: "ab", itemType: .track, trackID: "ab", episodeID: nil, position: 3, addedAt: "x", addedBy: nil)])
        var withDimsFlag = v1
        withDimsFlag[2] |= 16  // bit 4 did not exist in version 1
        XCTAssertThrowsError(try MemberSetCodec.decode(withDimsFlag)) {
            XCTAssertEqual($0 as? MemberSetCodec.DecodeError, .badType(4 | 16))
        }
    }

    func testEveryTruncationIsAnError() {
        let blob = MemberSetCodec.encode(sample)
        for n in 0..<blob.count {
            XCTAssertThrowsError(try MemberSetCodec.decode(Array(blob[0..<n])), "prefix of \(n) bytes")
        }
        XCTAssertThrowsError(try MemberSetCodec.decode(blob + [0])) { e in
            XCTAssertEqual(e as? MemberSetCodec.DecodeError, .trailingBytes)
        }
    }

    func testDamagedBlobsNeverCrash() {
        let blob = MemberSetCodec.encode(sample)
        var bad = blob
        bad[0] = 3
        XCTAssertThrowsError(try MemberSetCodec.decode(bad)) { XCTAssertEqual($0 as? MemberSetCodec.DecodeError, .badVersion(3)) }
        bad = blob
        bad[2] = 3  // item type 3
        XCTAssertThrowsError(try MemberSetCodec.decode(bad)) { XCTAssertEqual($0 as? MemberSetCodec.DecodeError, .badType(3)) }
        // A count far beyond what the bytes can hold is refused before anything is reserved.
        XCTAssertThrowsError(try MemberSetCodec.decode([1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])) {
            XCTAssertEqual($0 as? MemberSetCodec.DecodeError, .tooLarge)
        }
        // Invalid UTF-8 inside a string.
        let one = MemberSetCodec.encode([Member(itemKey: "ab", itemType: .local, trackID: nil, episodeID: nil, position: 0,
                                                addedAt: nil, addedBy: nil)])
        var broken = one
        broken[broken.firstIndex(of: UInt8(ascii: "a"))!] = 0xC3
        broken[broken.firstIndex(of: UInt8(ascii: "b"))!] = 0x28
        XCTAssertThrowsError(try MemberSetCodec.decode(broken)) { XCTAssertEqual($0 as? MemberSetCodec.DecodeError, .badUTF8) }
        // Every single-byte change either decodes to something or throws; none traps.
        var rng = SplitMix64(seed: 42)
        var decodedDifferent = 0
        for i in 0..<blob.count {
            for _ in 0..<8 {
                var b = blob
                b[i] = UInt8(truncatingIfNeeded: rng.next())
                if let m = try? MemberSetCodec.decode(b), m != sample { decodedDifferent += 1 }
            }
        }
        XCTAssertGreaterThan(decodedDifferent, 0, "the mutation loop exercised decodable changes too")
    }

    func testCanonicalOrder() {
        let a = Member(itemKey: "a", itemType: .track, trackID: "a", episodeID: nil, position: 1, addedAt: "x", addedBy: nil)
        let a2 = Member(itemKey: "a", itemType: .track, trackID: "a", episodeID: nil, position: 1, addedAt: "y", addedBy: nil)
        let b = Member(itemKey: "b", itemType: .track, trackID: "b", episodeID: nil, position: 0, addedAt: nil, addedBy: nil)
        let c = Member(itemKey: "c", itemType: .track, trackID: "c", episodeID: nil, position: 1, addedAt: nil, addedBy: nil)
        XCTAssertEqual(StateStore.canonicalOrder([b, a, c]), [b, a, c])
        XCTAssertEqual(StateStore.canonicalOrder([c, a, b]), [b, a, c])
        // repeated occurrences keep their given order (their ordinals)
        XCTAssertEqual(StateStore.canonicalOrder([c, a2, a, b]), [b, a2, a, c])
    }
}
