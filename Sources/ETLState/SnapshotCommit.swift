import ETLCore
import FoundationEssentials

/// A dimension id to remember as written. `complete: false` means the row lacked some fields
/// (e.g. artist genres) and a later poll may write it again.
public struct SeenMark: Sendable, Equatable, Hashable {
    public var kind: DimensionKind
    public var id: String
    public var complete: Bool
    public init(_ kind: DimensionKind, _ id: String, complete: Bool) {
        self.kind = kind
        self.id = id
        self.complete = complete
    }
}

/// Everything one processed playlist snapshot changes, applied by `StateStore.commit` in a
/// single transaction: the watermark can only move forward together with the outbox rows
/// that describe the change, so a crash either keeps both or neither (no lost or doubled rows).
public struct SnapshotCommit: Sendable {
    public var playlistID: String
    public var snapshotID: String
    public var name: String?
    public var itemCount: Int
    public var maxAddedAt: String?
    public var changedAt: Date
    public var polledAt: Date
    /// nil = keep the stored membership (e.g. metadata-only change); else full replacement.
    public var members: [Member]?
    public var seen: [SeenMark]
    /// Hashes of reject rows written now, so the same bad item is not rejected every poll.
    public var rejectHashes: [String]
    public var rows: [Row]
    /// Optional next due time to store (nil clears it).
    public var nextDueAt: Date?

    public init(playlistID: String, snapshotID: String, name: String?, itemCount: Int, maxAddedAt: String?,
                changedAt: Date, polledAt: Date, members: [Member]?, seen: [SeenMark] = [],
                rejectHashes: [String] = [], rows: [Row] = [], nextDueAt: Date? = nil) {
        self.playlistID = playlistID
        self.snapshotID = snapshotID
        self.name = name
        self.itemCount = itemCount
        self.maxAddedAt = maxAddedAt
        self.changedAt = changedAt
        self.polledAt = polledAt
        self.members = members
        self.seen = seen
        self.rejectHashes = rejectHashes
        self.rows = rows
        self.nextDueAt = nextDueAt
    }
}
