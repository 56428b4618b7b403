import ETLCore
import FoundationEssentials

/// A row of the batch ledger. Once sealed, `objectKey` and the set of rows never change, so a
/// retried upload writes the same name with the same bytes. After upload the outbox rows are
/// deleted but this record stays (with `uploadedAt`, `location`, `etag`) as the ledger.
public struct SealedBatch: Sendable, Equatable {
    public var batchID: Int64
    public var table: Table
    public var objectKey: String
    public var rowCount: Int
    public var byteEstimate: Int
    public var sealedAt: Date
    public var uploadedAt: Date?
    public var location: String?
    public var etag: String?
    public var attempts: Int
    public var lastError: String?
    /// Set when the batch was quarantined (its rows could not be read or encoded): it is
    /// never delivered, and `deadLetter` is the path its rows were copied to.
    public var quarantinedAt: Date? = nil
    public var deadLetter: String? = nil
}

/// Unsealed outbox rows of one table.
public struct OutboxTableSummary: Sendable, Equatable {
    public var rows: Int
    public var bytes: Int
    public var oldest: Date?
}

/// Sealed-but-not-uploaded batches of one table.
public struct PendingBatchSummary: Sendable, Equatable {
    public var batches: Int
    public var rows: Int
    public var bytes: Int
    public var oldestSealedAt: Date?
}
