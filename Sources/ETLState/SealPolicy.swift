import FoundationEssentials

/// Decides which unsealed outbox rows of one table become which batches. Pure: no I/O, so the
/// edge cases (row limits, byte limits, oversize rows, age, force) are tested directly.
///
/// Rows are taken in outbox id order and never reordered, so a batch is a contiguous run.
/// A batch closes as soon as it holds `maxRows` rows or `maxBytes` bytes, or when the next
/// row would push it past either limit. A single row larger than `maxBytes` therefore forms
/// its own batch (it cannot be split). The trailing, not-yet-full run is sealed only when its
/// oldest row has waited `maxAge` or `force` is set (shutdown / `flush`).
public struct SealPlanner: Sendable {
    public let maxRows: Int
    public let maxBytes: Int

    private(set) var count = 0
    private(set) var bytes = 0
    private(set) var oldest: Date?
    private var start = 0
    private var index = 0
    private var closed: [Range<Int>] = []

    public init(maxRows: Int, maxBytes: Int) {
        self.maxRows = max(1, maxRows)
        self.maxBytes = max(1, maxBytes)
    }

    /// Feeds the next row (in id order). Returns the batch ranges (indexes into the fed
    /// sequence) that became full by this row, in order.
    public mutating func add(bytes b: Int, createdAt: Date) -> [Range<Int>] {
        var out: [Range<Int>] = []
        if count > 0, count + 1 > maxRows || bytes + b > maxBytes {
            out.append(closeCurrent())
        }
        if count == 0 { start = index; oldest = createdAt } else if let o = oldest, createdAt < o { oldest = createdAt }
        count += 1
        bytes += b
        index += 1
        if count >= maxRows || bytes >= maxBytes { out.append(closeCurrent()) }
        return out
    }

    /// The trailing partial batch, if it should be sealed now.
    public func remainder(now: Date, maxAge: TimeInterval, force: Bool) -> Range<Int>? {
        guard count > 0, let o = oldest else { return nil }
        if force || now.timeIntervalSince(o) >= maxAge { return start..<index }
        return nil
    }

    /// Byte total of the current (unclosed) run, for the caller's ledger.
    public var pendingBytes: Int { bytes }

    private mutating func closeCurrent() -> Range<Int> {
        let r = start..<(start + count)
        count = 0
        bytes = 0
        oldest = nil
        start = index
        return r
    }
}

public enum SealPolicy {
    /// One unsealed row as the policy sees it.
    public struct Candidate: Sendable, Equatable {
        public var approxBytes: Int
        public var createdAt: Date
        public init(approxBytes: Int, createdAt: Date) { self.approxBytes = approxBytes; self.createdAt = createdAt }
    }

    /// The batches to seal, as index ranges into `rows` (which must be in outbox id order).
    public static func plan(rows: [Candidate], maxRows: Int, maxBytes: Int, maxAge: TimeInterval, now: Date,
                            force: Bool) -> [Range<Int>] {
        var p = SealPlanner(maxRows: maxRows, maxBytes: maxBytes)
        var out: [Range<Int>] = []
        for r in rows { out += p.add(bytes: r.approxBytes, createdAt: r.createdAt) }
        if let tail = p.remainder(now: now, maxAge: maxAge, force: force) { out.append(tail) }
        return out
    }
}
