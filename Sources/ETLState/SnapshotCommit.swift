import ETLCore
import FoundationEssentials

/// A dimension id to remember as written. `complete: false` means the row lacked some fields
/// (e.g. artist genres) and a later poll may write it again.
///
/// `dims` (tracks only) is the track's `DimsFingerprint`. Only record it in the transaction
/// that also records (or has found recorded) every album and artist id it covers as seen: the
/// poller trusts a matching fingerprint in place of looking those ids up. nil keeps whatever
/// the state holds.
public struct SeenMark: Sendable, Equatable, Hashable {
    public var kind: DimensionKind
    public var id: String
    public var complete: Bool
    public var dims: UInt64?
    public init(_ kind: DimensionKind, _ id: String, complete: Bool, dims: UInt64? = nil) {
        self.kind = kind
        self.id = id
        self.complete = complete
        self.dims = dims
    }
}

/// A new `DimsFingerprint` for an id that is already seen (no row written for it), under the
/// same rule as `SeenMark.dims`. An id that is not seen is left alone.
public struct SeenDims: Sendable, Equatable, Hashable {
    public var kind: DimensionKind
    public var id: String
    public var dims: UInt64
    public init(_ kind: DimensionKind, _ id: String, dims: UInt64) {
        self.kind = kind
        self.id = id
        self.dims = dims
    }
}

/// What the state holds for one id: its seen state and, for a seen track, its stored
/// `DimsFingerprint` (nil when unknown, e.g. written before the fingerprint existed).
public struct SeenRecord: Sendable, Equatable, Hashable {
    public var state: SeenState
    public var dims: UInt64?
    public init(_ state: SeenState, dims: UInt64? = nil) {
        self.state = state
        self.dims = dims
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
    /// New fingerprints of ids already seen (no row written for them now).
    public var dims: [SeenDims]
    /// Hashes of reject rows written now, so the same bad item is not rejected every poll.
    public var rejectHashes: [String]
    public var rows: [Row]
    /// Optional next due time to store (nil clears it).
    public var nextDueAt: Date?

    public init(playlistID: String, snapshotID: String, name: String?, itemCount: Int, maxAddedAt: String?,
                changedAt: Date, polledAt: Date, members: [Member]?, seen: [SeenMark] = [],
                rejectHashes: [String] = [], rows: [Row] = [], nextDueAt: Date? = nil, dims: [SeenDims] = []) {
        self.playlistID = playlistID
        self.snapshotID = snapshotID
        self.name = name
        self.itemCount = itemCount
        self.maxAddedAt = maxAddedAt
        self.changedAt = changedAt
        self.polledAt = polledAt
        self.members = members
        self.seen = seen
        self.dims = dims
        self.rejectHashes = rejectHashes
        self.rows = rows
        self.nextDueAt = nextDueAt
    }
}
