/// One shard of a playlist list split across instances (`[instance] shard_index`,
/// `shard_count`). Every instance lists the same playlists; a playlist belongs to shard
/// `Shard.hash(id) % count`, and an instance polls only the playlists of its own `index`.
///
/// The hash is FNV-1a, 64 bit, of the bare playlist id's UTF-8 bytes (offset basis
/// 0xcbf29ce484222325, prime 0x100000001b3, multiplication modulo 2^64). It is fixed by this
/// contract, not an implementation detail: operators recompute it to see where a playlist
/// goes, and changing it would move playlists between instances (each would be loaded again
/// by its new owner). docs/configuration.md has a worked example. Pure: no I/O.
public struct Shard: Sendable, Equatable {
    /// 0-based, as configured: `0 ..< count`.
    public let index: Int
    public let count: Int

    /// The largest accepted `shard_count`.
    public static let maximumCount = 1024

    /// nil unless `0 <= index < count <= maximumCount`.
    public init?(index: Int, count: Int) {
        guard count >= 1, count <= Self.maximumCount, index >= 0, index < count else { return nil }
        self.index = index
        self.count = count
    }

    /// FNV-1a 64 of the UTF-8 bytes of `playlistID`.
    public static func hash(_ playlistID: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in playlistID.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    /// The shard `playlistID` belongs to when the list is split `count` ways.
    public static func of(_ playlistID: String, count: Int) -> Int {
        precondition(count >= 1, "a shard count is at least 1")
        return Int(hash(playlistID) % UInt64(count))
    }

    /// True when `playlistID` is this shard's.
    public func owns(_ playlistID: String) -> Bool { Self.of(playlistID, count: count) == index }

    /// This shard's share of `items`, in their order.
    public func select<T>(_ items: [T], id: (T) -> String) -> [T] { items.filter { owns(id($0)) } }

    /// "2/5": the configured index and count, exactly as written in the config.
    public var description: String { "\(index)/\(count)" }
}
