import ETLCore

/// The stored form of one playlist's membership: all its `Member`s in one blob.
///
/// Why a blob and not a row per member: a changed snapshot is always read whole (to diff)
/// and written whole (the new membership), never queried member by member. As rows, a first
/// poll of a 500-item playlist cost 500 b-tree inserts, each with a text primary key, and
/// was one of the largest costs of the pipeline; as a blob it is one row write. Pure: no I/O.
///
/// Format, version 2 (all integers are unsigned LEB128 varints):
///
///     0x02                      format version
///     count                     number of members
///     per member:
///       flags                   bits 0-1 item type (0 track, 1 episode, 2 local),
///                               bit 2 track_id == item_key, bit 3 episode_id == item_key,
///                               bit 4 a dims fingerprint follows
///       dims                    8 bytes, little-endian, if bit 4
///       position
///       item_key                string
///       track_id                string, unless bit 2 (absent => nil)
///       episode_id              string, unless bit 3
///       added_at, added_by      strings
///
/// A string is `length + 1` then its UTF-8 bytes; `0` means nil. Version 1 (written before
/// fingerprints) is the same without bit 4; it is still read.
enum MemberSetCodec {
    static let version: UInt8 = 2

    enum DecodeError: Error, Equatable, CustomStringConvertible {
        case truncated, badVersion(UInt8), badType(UInt8), badUTF8, trailingBytes, tooLarge

        var description: String {
            switch self {
            case .truncated: return "membership blob is truncated"
            case .badVersion(let v): return "membership blob has unknown format version \(v)"
            case .badType(let t): return "membership blob has unknown item type \(t)"
            case .badUTF8: return "membership blob has a string that is not UTF-8"
            case .trailingBytes: return "membership blob has bytes after its last member"
            case .tooLarge: return "membership blob has a length or count out of range"
            }
        }
    }

    private static let types: [ItemType] = [.track, .episode, .local]

    static func encode(_ members: [Member]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + members.count * 72)
        out.append(version)
        appendVarint(UInt64(members.count), to: &out)
        for m in members {
            let typeCode: UInt8 = m.itemType == .track ? 0 : (m.itemType == .episode ? 1 : 2)
            let trackIsKey = m.trackID == m.itemKey
            let episodeIsKey = m.episodeID == m.itemKey
            out.append(typeCode | (trackIsKey ? 4 : 0) | (episodeIsKey ? 8 : 0) | (m.dims != nil ? 16 : 0))
            if let d = m.dims { withUnsafeBytes(of: d.littleEndian) { out.append(contentsOf: $0) } }
            appendVarint(UInt64(max(0, m.position)), to: &out)
            appendString(m.itemKey, to: &out)
            if !trackIsKey { appendString(m.trackID, to: &out) }
            if !episodeIsKey { appendString(m.episodeID, to: &out) }
            appendString(m.addedAt, to: &out)
            appendString(m.addedBy, to: &out)
        }
        return out
    }

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) throws(DecodeError) -> [Member] {
        var r = Reader(bytes: bytes)
        let v = try r.byte()
        guard v == 1 || v == version else { throw .badVersion(v) }
        let maxFlags: UInt8 = v == 1 ? 15 : 31
        let count = try r.varint()
        // Each member takes at least 5 bytes, so a count beyond that is corruption, not a
        // reason to reserve gigabytes.
        guard count <= UInt64(bytes.count / 5) else { throw .tooLarge }
        var out: [Member] = []
        out.reserveCapacity(Int(count))
        for _ in 0..<count {
            let flags = try r.byte()
            guard Int(flags & 3) < types.count, flags & ~maxFlags == 0 else { throw .badType(flags) }
            let dims: UInt64? = flags & 16 != 0 ? try r.uint64() : nil
            let position = try r.varint()
            guard position <= UInt64(Int.max) else { throw .tooLarge }
            guard let key = try r.string() else { throw .truncated }
            let trackID = flags & 4 != 0 ? key : try r.string()
            let episodeID = flags & 8 != 0 ? key : try r.string()
            let addedAt = try r.string()
            let addedBy = try r.string()
            out.append(Member(itemKey: key, itemType: types[Int(flags & 3)], trackID: trackID, episodeID: episodeID,
                              position: Int(position), addedAt: addedAt, addedBy: addedBy, dims: dims))
        }
        guard r.offset == bytes.count else { throw .trailingBytes }
        return out
    }

    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> [Member] {
        let r: Result<[Member], DecodeError> = bytes.withUnsafeBufferPointer { b in
            do throws(DecodeError) { return .success(try decode(b)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    private static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func appendString(_ s: String?, to out: inout [UInt8]) {
        guard let s else { out.append(0); return }
        appendVarint(UInt64(s.utf8.count) + 1, to: &out)
        out.append(contentsOf: s.utf8)
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0

        mutating func byte() throws(DecodeError) -> UInt8 {
            guard offset < bytes.count else { throw .truncated }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func uint64() throws(DecodeError) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(try byte()) << (8 * UInt64(i)) }
            return v
        }

        mutating func varint() throws(DecodeError) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 64 else { throw .tooLarge }
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
        }

        mutating func string() throws(DecodeError) -> String? {
            let n = try varint()
            guard n > 0 else { return nil }
            guard n - 1 <= UInt64(bytes.count - offset) else { throw .truncated }
            let len = Int(n - 1)
            let slice = UnsafeBufferPointer(rebasing: bytes[offset..<(offset + len)])
            offset += len
            guard let s = String(validating: slice, as: UTF8.self) else { throw .badUTF8 }
            return s
        }
    }
}
