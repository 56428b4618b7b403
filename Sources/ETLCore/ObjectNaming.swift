import FoundationEssentials

/// Deterministic object names:
/// - without an instance id: `<table>/dt=<YYYY-MM-DD of sealing>/<table>-<batch_id zero-padded
///   to 12>.<ndjson|csv>[.gz]`;
/// - with `[instance] id`: `<table>/dt=<YYYY-MM-DD>/<table>-<id>-<batch_id, 12 digits>.<ext>`,
///   so instances writing to one bucket and prefix never name two objects alike (each has its
///   own state database and so its own batch ids).
/// Computed once at sealing and stored with the batch, so a retry after a crash writes the
/// same name, and Snowpipe (which dedups by file name) loads it once.
public struct ObjectNaming: Sendable, Equatable {
    public enum Format: String, Sendable { case ndjson, csv }
    public var format: Format
    public var gzip: Bool
    /// `[instance] id` (1–32 of `[a-z0-9-]`, validated by the config loader); nil for none.
    public var instanceID: String?

    public init(format: Format, gzip: Bool, instanceID: String? = nil) {
        self.format = format; self.gzip = gzip; self.instanceID = instanceID
    }

    public var fileExtension: String { format.rawValue + (gzip ? ".gz" : "") }

    public func key(table: Table, batchID: Int64, sealedAt: Date) -> String {
        let padded = cFormat("%012lld", batchID)
        let instance = instanceID.map { "-\($0)" } ?? ""
        return "\(table.rawValue)/dt=\(Timestamp.day(sealedAt))/\(table.rawValue)\(instance)-\(padded).\(fileExtension)"
    }

    public var contentType: String { format == .ndjson ? "application/x-ndjson" : "text/csv" }
}
