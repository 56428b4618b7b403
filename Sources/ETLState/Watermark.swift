import FoundationEssentials

/// What the state DB remembers about one playlist between polls. `snapshotID` is nil until a
/// snapshot has been committed (a playlist that only ever errored has a row for its error).
public struct Watermark: Sendable, Equatable {
    public var playlistID: String
    public var snapshotID: String?
    public var itemCount: Int?
    /// Largest `added_at` among items (contract form), a cheap change hint.
    public var maxAddedAt: String?
    public var name: String?
    public var lastPolledAt: Date?
    /// When a changed snapshot was last committed.
    public var lastChangedAt: Date?
    public var lastError: String?
    public var lastErrorAt: Date?
    /// When the scheduler should poll next (backoff or rate gate); nil = normal cadence.
    public var nextDueAt: Date?

    public init(playlistID: String, snapshotID: String? = nil, itemCount: Int? = nil, maxAddedAt: String? = nil,
                name: String? = nil, lastPolledAt: Date? = nil, lastChangedAt: Date? = nil, lastError: String? = nil,
                lastErrorAt: Date? = nil, nextDueAt: Date? = nil) {
        self.playlistID = playlistID
        self.snapshotID = snapshotID
        self.itemCount = itemCount
        self.maxAddedAt = maxAddedAt
        self.name = name
        self.lastPolledAt = lastPolledAt
        self.lastChangedAt = lastChangedAt
        self.lastError = lastError
        self.lastErrorAt = lastErrorAt
        self.nextDueAt = nextDueAt
    }
}
