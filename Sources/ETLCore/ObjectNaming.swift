import FoundationEssentials

/// Deterministic object names: `<table>/dt=<YYYY-MM-DD of sealing>/<table>-<batch_id zero-padded
/// to 12>.<ndjson|csv>[.gz]`. Computed once at sealing and stored with the batch, so a retry
/// after a crash writes the same name, and Snowpipe (which dedups by file name) loads it once.
public struct ObjectNaming: Sendable, Equatable {
    public enum Format: String, Sendable { case ndjson, csv }
    public var format: Format
    public var gzip: Bool

    public init(format: Format, gzip: Bool) { self.format = format; self.gzip = gzip }

    public var fileExtension: String { format.rawValue + (gzip ? ".gz" : "") }

    public func key(table: Table, batchID: Int64, sealedAt: Date) -> String {
        let padded = cFormat("%012lld", batchID)
        return "\(table.rawValue)/dt=\(Timestamp.day(sealedAt))/\(table.rawValue)-\(padded).\(fileExtension)"
    }

    public var contentType: String { format == .ndjson ? "application/x-ndjson" : "text/csv" }
}
