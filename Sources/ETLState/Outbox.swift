import ETLCore
import ETLTransform
import FoundationEssentials

/// The outbox and the batch ledger.
///
/// Rows wait in the outbox as entries (`OutboxChunk`: one table's rows from one commit).
/// Sealing records a batch in the ledger as an inclusive range of `OutboxPosition`s of one
/// table, and touches no outbox row: a table's batches are contiguous ranges in seal order,
/// so its unsealed rows are exactly those after its newest batch's last position. Entries
/// are immutable once written, which is what makes a sealed batch yield the same rows, so
/// the same bytes, on every attempt; they are deleted once every batch using them is
/// uploaded and none of their rows is still unsealed.
extension StateStore {
    /// Conservative size of a row's NDJSON line, from its outbox payload length: the payload
    /// `[v1,...,vn]` becomes `{"c1":v1,...,"cn":vn,"batch_id":N}\n`, i.e. plus each column
    /// name with quotes and colon, plus the batch_id field with up to 20 digits, plus one
    /// comma and the newline. CSV lines are never longer except for arrays, whose JSON text
    /// gets its quotes doubled; the margin from column names covers typical id arrays.
    static func approxBytes(table: Table, payloadBytes: Int) -> Int {
        payloadBytes + columnOverhead[table, default: 0] + 2 + ("\"batch_id\":".utf8.count + 20)
    }

    private static let columnOverhead: [Table: Int] = Dictionary(uniqueKeysWithValues: Table.allCases.map { t in
        (t, t.columns.reduce(0) { $0 + $1.utf8.count + 3 })
    })


    // MARK: - Appending

    /// Within a transaction: appends rows to the outbox as one entry per table, tables in
    /// `Table.allCases` order, rows in their given order within a table.
    func insertOutbox(_ rows: [Row], createdAt: Date) throws {
        guard !rows.isEmpty else { return }
        var entries: [Table: EntryBuilder] = [:]
        for row in rows { entries[row.table, default: EntryBuilder()].append(row) }
        let s = try db.cached("""
            INSERT INTO outbox(table_name, row_count, approx_bytes, created_at, payload, lengths) VALUES (?, ?, ?, ?, ?, ?)
            """)
        for table in Table.allCases {
            guard let e = entries[table] else { continue }
            try s.bind(1, table.rawValue)
            try s.bind(2, e.rows)
            try s.bind(3, e.approxBytes)
            try s.bind(4, createdAt.timeIntervalSince1970)
            try s.bind(5, e.payload)
            try s.bind(6, e.lengths)
            try s.run()
        }
    }

    /// One entry being built: payloads appended in place (the text `JSONText.encodeValues`
    /// returns, without a String per row) and their lengths.
    private struct EntryBuilder {
        var payload: [UInt8] = []
        var lengths: [UInt8] = []
        var rows = 0
        var approxBytes = 0

        mutating func append(_ row: Row) {
            let start = payload.count
            payload.append(UInt8(ascii: "["))
            for (i, v) in row.values.enumerated() {
                if i > 0 { payload.append(UInt8(ascii: ",")) }
                JSONText.appendValue(v, to: &payload)
            }
            payload.append(UInt8(ascii: "]"))
            OutboxChunk.appendLength(payload.count - start, to: &lengths)
            rows += 1
            approxBytes += StateStore.approxBytes(table: row.table, payloadBytes: payload.count - start)
        }
    }

    // MARK: - Reading entries

    /// Row lengths of the entry on the statement's current row (columns: row count, payload
    /// byte length, lengths blob), or `.corruptPayload` naming the entry.
    private func rowLengths(_ s: Statement, entry: Int64, countColumn: Int32, bytesColumn: Int32,
                            lengthsColumn: Int32) throws -> [Int] {
        let count = s.int(countColumn), bytes = s.int(bytesColumn)
        let r: Result<[Int], OutboxChunk.DecodeError>
        if s.isNull(lengthsColumn) {
            r = Self.lengths(nil, count, bytes)
        } else {
            r = s.withBlobBytes(lengthsColumn) { Self.lengths($0, count, bytes) }
        }
        switch r {
        case .success(let l): return l
        case .failure(let e): throw StateError.corruptPayload(outboxID: entry, reason: e.description)
        }
    }

    private static func lengths(_ b: UnsafeBufferPointer<UInt8>?, _ count: Int, _ bytes: Int) -> Result<[Int], OutboxChunk.DecodeError> {
        do throws(OutboxChunk.DecodeError) {
            return .success(try OutboxChunk.rowLengths(b, rowCount: count, payloadBytes: bytes))
        } catch {
            return .failure(error)
        }
    }

    /// The last position of `table`'s newest sealed batch; nil when it has none (or none
    /// since schema 2), i.e. every outbox row of the table is unsealed.
    private func sealedThrough(_ table: Table) throws -> OutboxPosition? {
        let s = try db.cached("""
            SELECT last_id, last_row FROM batches WHERE table_name = ? AND last_id IS NOT NULL
            ORDER BY batch_id DESC LIMIT 1
            """)
        defer { s.reset() }
        try s.bind(1, table.rawValue)
        guard try s.step() else { return nil }
        return OutboxPosition(entry: s.int64(0), row: s.int(1))
    }

    /// How many row positions an entry has, from its stored row count: the count itself for
    /// every entry this code writes, and for a damaged one a number that keeps planning finite
    /// (at least one, at most ten million). Sealing counts an entry whose length list is damaged
    /// this way and cleanup counts every entry this way, so such rows are still sealed into a
    /// batch, which then fails to encode and is quarantined instead of blocking its table.
    static func entryRows(rowCount: Int) -> Int {
        min(max(rowCount, 1), 10_000_000)
    }

    /// Calls `body` for each unsealed row of `table`, in order, with its position, its
    /// approximate NDJSON size and its entry's creation time. Reads row lengths, not payloads;
    /// an entry whose lengths are damaged counts as `damagedEntryRows` rows of equal size.
    private func forEachUnsealedRow(_ table: Table, _ body: (OutboxPosition, Int, Double) throws -> Void) throws {
        let after = try sealedThrough(table)
        let s = try db.cached("""
            SELECT id, row_count, length(payload), lengths, created_at FROM outbox
            WHERE table_name = ? AND id >= ? ORDER BY id
            """)
        defer { s.reset() }
        try s.bind(1, table.rawValue)
        try s.bind(2, after?.entry ?? 0)
        while try s.step() {
            let id = s.int64(0)
            let created = s.double(4)
            guard let lengths = try? rowLengths(s, entry: id, countColumn: 1, bytesColumn: 2, lengthsColumn: 3) else {
                let n = Self.entryRows(rowCount: s.int(1)), each = s.int(2) / n
                for i in 0..<n {
                    let p = OutboxPosition(entry: id, row: i)
                    if let after, p <= after { continue }
                    try body(p, Self.approxBytes(table: table, payloadBytes: each), created)
                }
                continue
            }
            for (i, n) in lengths.enumerated() {
                let p = OutboxPosition(entry: id, row: i)
                if let after, p <= after { continue }
                try body(p, Self.approxBytes(table: table, payloadBytes: n), created)
            }
        }
    }

    // MARK: - Sealing

    /// Unsealed outbox rows per table: count, byte estimate, oldest creation time.
    public func outboxSummary() throws -> [Table: OutboxTableSummary] {
        try locked {
            var out: [Table: OutboxTableSummary] = [:]
            for t in Table.allCases {
                var rows = 0, bytes = 0
                var oldest: Double?
                try forEachUnsealedRow(t) { _, b, created in
                    rows += 1
                    bytes += b
                    oldest = min(oldest ?? created, created)
                }
                if rows > 0 {
                    out[t] = OutboxTableSummary(rows: rows, bytes: bytes, oldest: oldest.map { Date(timeIntervalSince1970: $0) })
                }
            }
            return out
        }
    }

    /// Sealed batches not yet uploaded, per table.
    public func pendingBatchSummary() throws -> [Table: PendingBatchSummary] {
        try locked {
            let s = try db.cached("""
                SELECT table_name, COUNT(*), TOTAL(row_count), TOTAL(byte_estimate), MIN(sealed_at) FROM batches
                WHERE uploaded_at IS NULL AND quarantined_at IS NULL GROUP BY table_name
                """)
            defer { s.reset() }
            var out: [Table: PendingBatchSummary] = [:]
            while try s.step() {
                guard let t = Table(rawValue: s.string(0) ?? "") else { continue }
                out[t] = PendingBatchSummary(batches: s.int(1), rows: Int(s.double(2)), bytes: Int(s.double(3)),
                                             oldestSealedAt: s.date(4))
            }
            return out
        }
    }

    /// Seals unsealed rows into batches per `SealPlanner` (see there for the rules), table by
    /// table. Each batch is its own transaction: insert the ledger row (AUTOINCREMENT id, so
    /// ids are never reused even after deletes) with its first and last positions, and name
    /// it with `keyFor(table, batchID, sealedAt)` (pass `ObjectNaming.key`). No outbox row
    /// is touched: from then on the range, so the batch's rows, and its key are fixed.
    public func seal(now: Date, maxRows: Int, maxBytes: Int, maxAge: TimeInterval, force: Bool,
                     keyFor: (Table, Int64, Date) -> String) throws -> [SealedBatch] {
        try locked {
            var sealed: [SealedBatch] = []
            for table in Table.allCases {
                for plan in try planBatches(table: table, now: now, maxRows: maxRows, maxBytes: maxBytes,
                                            maxAge: maxAge, force: force) {
                    let b = try db.transaction { () -> SealedBatch in
                        let ins = try db.cached("""
                            INSERT INTO batches(table_name, object_key, row_count, byte_estimate, sealed_at,
                                                first_id, first_row, last_id, last_row)
                            VALUES (?, 'sealing', ?, ?, ?, ?, ?, ?, ?)
                            """)
                        try ins.bind(1, table.rawValue)
                        try ins.bind(2, plan.rows)
                        try ins.bind(3, plan.bytes)
                        try ins.bind(4, now)
                        try ins.bind(5, plan.first.entry)
                        try ins.bind(6, plan.first.row)
                        try ins.bind(7, plan.last.entry)
                        try ins.bind(8, plan.last.row)
                        try ins.run()
                        let id = db.lastInsertRowID
                        let key = keyFor(table, id, now)

                        let name = try db.cached("UPDATE batches SET object_key = ? WHERE batch_id = ?")
                        try name.bind(1, key)
                        try name.bind(2, id)
                        try name.run()
                        return SealedBatch(batchID: id, table: table, objectKey: key, rowCount: plan.rows,
                                           byteEstimate: plan.bytes, sealedAt: now, uploadedAt: nil, location: nil,
                                           etag: nil, attempts: 0, lastError: nil)
                    }
                    sealed.append(b)
                }
            }
            return sealed
        }
    }

    private struct BatchPlan {
        var first: OutboxPosition, last: OutboxPosition, rows: Int, bytes: Int
    }

    /// Runs the planner over one table's unsealed rows, streamed from SQLite; returns each
    /// batch's first and last positions, row count and byte estimate.
    private func planBatches(table: Table, now: Date, maxRows: Int, maxBytes: Int, maxAge: TimeInterval,
                             force: Bool) throws -> [BatchPlan] {
        var planner = SealPlanner(maxRows: maxRows, maxBytes: maxBytes)
        var plans: [BatchPlan] = []
        var index = 0
        var total = 0  // bytes of every row fed so far
        var runFirst = OutboxPosition(entry: 0, row: 0), runFirstTotal = 0  // the open run's first row
        var prev = OutboxPosition(entry: 0, row: 0)
        try forEachUnsealedRow(table) { p, bytes, created in
            let before = total
            total += bytes
            for r in planner.add(bytes: bytes, createdAt: Date(timeIntervalSince1970: created)) {
                if r.upperBound == index + 1 {  // ends with this row
                    let startsHere = r.lowerBound == index
                    plans.append(BatchPlan(first: startsHere ? p : runFirst, last: p, rows: r.count,
                                           bytes: total - (startsHere ? before : runFirstTotal)))
                } else {  // closed before this row
                    plans.append(BatchPlan(first: runFirst, last: prev, rows: r.count, bytes: before - runFirstTotal))
                }
            }
            if planner.count == 1 { runFirst = p; runFirstTotal = before }
            prev = p
            index += 1
        }
        if let r = planner.remainder(now: now, maxAge: maxAge, force: force) {
            plans.append(BatchPlan(first: runFirst, last: prev, rows: r.count, bytes: total - runFirstTotal))
        }
        return plans
    }

    // MARK: - The ledger

    private static let batchColumns = """
        batch_id, table_name, object_key, row_count, byte_estimate, sealed_at, uploaded_at, location, etag, attempts, last_error,
        quarantined_at, dead_letter
        """

    private func readBatch(_ s: Statement) -> SealedBatch? {
        guard let t = Table(rawValue: s.string(1) ?? "") else { return nil }
        return SealedBatch(batchID: s.int64(0), table: t, objectKey: s.string(2) ?? "", rowCount: s.int(3),
                           byteEstimate: s.int(4), sealedAt: s.date(5) ?? Date(timeIntervalSince1970: 0),
                           uploadedAt: s.date(6), location: s.string(7), etag: s.string(8), attempts: s.int(9),
                           lastError: s.string(10), quarantinedAt: s.date(11), deadLetter: s.string(12))
    }

    /// Sealed batches awaiting upload, oldest (lowest batch id) first; quarantined ones are
    /// never delivered, so they are not among them.
    public func unuploadedBatches() throws -> [SealedBatch] {
        try locked {
            let s = try db.cached("""
                SELECT \(Self.batchColumns) FROM batches WHERE uploaded_at IS NULL AND quarantined_at IS NULL ORDER BY batch_id
                """)
            defer { s.reset() }
            var out: [SealedBatch] = []
            while try s.step() { if let b = readBatch(s) { out.append(b) } }
            return out
        }
    }

    /// One ledger entry (uploaded or not).
    public func batch(_ batchID: Int64) throws -> SealedBatch? {
        try locked {
            let s = try db.cached("SELECT \(Self.batchColumns) FROM batches WHERE batch_id = ?")
            defer { s.reset() }
            try s.bind(1, batchID)
            return try s.step() ? readBatch(s) : nil
        }
    }

    /// Streams a sealed batch's rows (values in `table.columns` order, without batch_id) in
    /// outbox order, so the same batch always encodes to the same bytes. Rows are read one
    /// outbox entry at a time and the lock is released while `body` runs, so commits are not
    /// blocked for the length of an upload. An uploaded batch yields nothing.
    /// Throws `.unknownBatch` for a missing id, `.corruptPayload` for an undecodable row.
    public func forEachRow(ofBatch batchID: Int64, _ body: ([Value]) throws -> Void) throws {
        try forEachPayload(ofBatch: batchID) { _, decode in try body(decode()) }
    }

    /// As `forEachRow`, but hands `body` each row's stored payload bytes (valid only during
    /// the call) and a function decoding them (throws `.corruptPayload` as `forEachRow` does,
    /// incl. a wrong value count), so a writer can use the stored text without decoding it.
    /// An entry's payload is copied into one reused buffer: no per-row allocation.
    public func forEachPayload(ofBatch batchID: Int64,
                               _ body: (UnsafeBufferPointer<UInt8>, () throws -> [Value]) throws -> Void) throws {
        try forEachEntry(ofBatch: batchID, damagedLengths: .throw) { tableName, span, entry, lengths, all in
            let columnCount = Table(rawValue: tableName)?.columns.count ?? -1
            var start = 0
            for (i, n) in (lengths ?? []).enumerated() {
                defer { start += n }
                guard span.contains(OutboxPosition(entry: entry, row: i)) else { continue }
                let bytes = UnsafeBufferPointer(rebasing: all[start..<(start + n)])
                try body(bytes) {
                    let values: [Value]
                    do {
                        values = try JSONParser.outboxRow(bytes)
                    } catch {
                        throw StateError.corruptPayload(outboxID: entry, reason: "row \(i): \(error)")
                    }
                    guard values.count == columnCount else {
                        throw StateError.corruptPayload(outboxID: entry,
                                                        reason: "row \(i): \(values.count) values, table has \(columnCount) columns")
                    }
                    return values
                }
            }
        }
    }

    /// What `forEachEntry` does with an entry whose row lengths are damaged.
    private enum DamagedLengths { case `throw`, wholePayload }

    /// Walks the outbox entries of a pending batch in order, one entry at a time: its payload is
    /// copied into one reused buffer under the lock, and `body` runs with the lock released (so
    /// commits are not blocked for the length of an upload), getting the batch's table, its
    /// span of rows, the entry id, the entry's row lengths and its payload bytes (valid only
    /// during the call; rows outside the span belong to other batches). Damaged row
    /// lengths throw `.corruptPayload`, or with `.wholePayload` come as nil. A done (uploaded
    /// or quarantined) batch, or one uploaded before schema 2 (no range), yields nothing.
    private func forEachEntry(ofBatch batchID: Int64, damagedLengths: DamagedLengths,
                              _ body: (String, ClosedRange<OutboxPosition>, Int64, [Int]?, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        guard let range = try locked({ try batchRange(batchID) }) else { throw StateError.unknownBatch(batchID) }
        guard !range.uploaded, let first = range.first, let last = range.last else { return }
        var buffer: [UInt8] = []
        var nextEntry = first.entry
        while nextEntry <= last.entry {
            var entry: Int64 = 0
            var lengths: [Int]?
            let found = try locked { () -> Bool in
                let s = try db.cached("""
                    SELECT id, row_count, length(payload), lengths, payload FROM outbox
                    WHERE table_name = ? AND id >= ? AND id <= ? ORDER BY id LIMIT 1
                    """)
                defer { s.reset() }
                try s.bind(1, range.tableName)
                try s.bind(2, nextEntry)
                try s.bind(3, last.entry)
                guard try s.step() else { return false }
                entry = s.int64(0)
                switch damagedLengths {
                case .throw: lengths = try rowLengths(s, entry: entry, countColumn: 1, bytesColumn: 2, lengthsColumn: 3)
                case .wholePayload: lengths = try? rowLengths(s, entry: entry, countColumn: 1, bytesColumn: 2, lengthsColumn: 3)
                }
                buffer.removeAll(keepingCapacity: true)
                s.withBlobBytes(4) { buffer.append(contentsOf: $0) }
                return true
            }
            guard found else { return }
            nextEntry = entry + 1
            try buffer.withUnsafeBufferPointer { all in try body(range.tableName, first...last, entry, lengths, all) }
        }
    }

    /// A ledger row's table, whether it is done (uploaded or quarantined: its rows may be
    /// gone) and range (nil bounds for a batch uploaded before schema 2), or nil when there is
    /// no such batch. Call under the lock.
    private func batchRange(_ batchID: Int64) throws
        -> (tableName: String, uploaded: Bool, first: OutboxPosition?, last: OutboxPosition?)? {
        let s = try db.cached("""
            SELECT table_name, uploaded_at IS NOT NULL OR quarantined_at IS NOT NULL, first_id, first_row, last_id, last_row FROM batches WHERE batch_id = ?
            """)
        defer { s.reset() }
        try s.bind(1, batchID)
        guard try s.step() else { return nil }
        let first = s.isNull(2) ? nil : OutboxPosition(entry: s.int64(2), row: s.int(3))
        let last = s.isNull(4) ? nil : OutboxPosition(entry: s.int64(4), row: s.int(5))
        return (s.string(0) ?? "", s.int(1) != 0, first, last)
    }

    /// Records a successful upload: in one transaction stamps the ledger row and deletes the
    /// outbox entries nothing needs any more (the ledger row stays as the record of what was
    /// written where). Entries wholly inside the batch go; an entry at either end goes only
    /// when no other pending batch covers it and all its rows are sealed.
    public func markUploaded(batchID: Int64, location: String, etag: String?, at: Date) throws {
        try locked {
            try db.transaction {
                let u = try db.cached("""
                    UPDATE batches SET uploaded_at = ?, location = ?, etag = ?, attempts = attempts + 1, last_error = NULL
                    WHERE batch_id = ?
                    """)
                try u.bind(1, at)
                try u.bind(2, location)
                try u.bind(3, etag)
                try u.bind(4, batchID)
                try u.run()
                guard db.changes == 1 else { throw StateError.unknownBatch(batchID) }
                try releaseEntries(ofBatch: batchID)
            }
        }
    }

    /// Records that a batch was quarantined: its rows could not be read or encoded and were
    /// copied to `deadLetter` (already durable: the caller writes and fsyncs the copy first).
    /// In one transaction stamps the ledger row, so the batch is never delivered or retried,
    /// and frees its outbox entries as `markUploaded` does. Idempotent: a batch already
    /// quarantined or uploaded is left as it is.
    public func markQuarantined(batchID: Int64, deadLetter: String, reason: String, at: Date) throws {
        try locked {
            try db.transaction {
                let u = try db.cached("""
                    UPDATE batches SET quarantined_at = ?, dead_letter = ?, last_error = ?, attempts = attempts + 1
                    WHERE batch_id = ? AND uploaded_at IS NULL AND quarantined_at IS NULL
                    """)
                try u.bind(1, at)
                try u.bind(2, deadLetter)
                try u.bind(3, reason)
                try u.bind(4, batchID)
                try u.run()
                guard db.changes == 1 else {
                    guard try batchRange(batchID) != nil else { throw StateError.unknownBatch(batchID) }
                    return
                }
                try releaseEntries(ofBatch: batchID)
            }
        }
    }

    /// Within a transaction, for a batch just uploaded or quarantined: deletes the outbox
    /// entries nothing needs any more. Entries wholly inside the batch go; an entry at either
    /// end goes only when no other pending batch covers it and all its rows are sealed.
    private func releaseEntries(ofBatch batchID: Int64) throws {
        guard let range = try batchRange(batchID) else { throw StateError.unknownBatch(batchID) }
        guard let first = range.first, let last = range.last else { return }
        let inside = try db.cached("DELETE FROM outbox WHERE table_name = ? AND id > ? AND id < ?")
        try inside.bind(1, range.tableName)
        try inside.bind(2, first.entry)
        try inside.bind(3, last.entry)
        try inside.run()
        for entry in first.entry == last.entry ? [first.entry] : [first.entry, last.entry] {
            try deleteEntryIfDone(entry, tableName: range.tableName)
        }
    }

    /// Streams a pending batch's rows exactly as stored, for a dead-letter copy: one call per
    /// row with its payload bytes (valid only during the call), nothing decoded. An entry
    /// whose row lengths are damaged cannot be cut into rows: its whole payload comes as one
    /// call, once. Storage errors still throw (a copy that cannot be read is not made);
    /// damaged content never does. A done (uploaded or quarantined) batch yields nothing.
    public func forEachStoredRow(ofBatch batchID: Int64, _ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        try forEachEntry(ofBatch: batchID, damagedLengths: .wholePayload) { _, span, entry, lengths, all in
            guard let lengths else { return try body(all) }
            var start = 0
            for (i, n) in lengths.enumerated() {
                defer { start += n }
                guard span.contains(OutboxPosition(entry: entry, row: i)) else { continue }
                try body(UnsafeBufferPointer(rebasing: all[start..<(start + n)]))
            }
        }
    }

    /// Deletes an outbox entry at the edge of an uploaded batch if no pending batch covers it
    /// and the table's newest batch ends at or after its last row. Within a transaction.
    private func deleteEntryIfDone(_ entry: Int64, tableName: String) throws {
        let pending = try db.cached("""
            SELECT 1 FROM batches WHERE uploaded_at IS NULL AND quarantined_at IS NULL AND table_name = ?
                AND first_id <= ? AND last_id >= ? LIMIT 1
            """)
        try pending.bind(1, tableName)
        try pending.bind(2, entry)
        try pending.bind(3, entry)
        let stillNeeded = try pending.step()
        pending.reset()
        guard !stillNeeded, let table = Table(rawValue: tableName), let sealed = try sealedThrough(table) else { return }
        let count = try db.cached("SELECT row_count FROM outbox WHERE table_name = ? AND id = ?")
        try count.bind(1, tableName)
        try count.bind(2, entry)
        let rows = try count.step() ? Self.entryRows(rowCount: count.int(0)) : nil
        count.reset()
        guard let rows, OutboxPosition(entry: entry, row: rows - 1) <= sealed else { return }
        let d = try db.cached("DELETE FROM outbox WHERE table_name = ? AND id = ?")
        try d.bind(1, tableName)
        try d.bind(2, entry)
        try d.run()
    }

    /// Records a failed upload attempt (the batch stays pending, key and rows unchanged).
    public func recordUploadFailure(batchID: Int64, error: String) throws {
        try locked {
            let u = try db.cached("UPDATE batches SET attempts = attempts + 1, last_error = ? WHERE batch_id = ?")
            try u.bind(1, error)
            try u.bind(2, batchID)
            try u.run()
            guard db.changes == 1 else { throw StateError.unknownBatch(batchID) }
        }
    }

    /// The most recent upload: object key and time.
    public func lastUpload() throws -> (key: String, at: Date)? {
        try locked {
            let s = try db.cached("""
                SELECT object_key, uploaded_at FROM batches WHERE uploaded_at IS NOT NULL
                ORDER BY uploaded_at DESC, batch_id DESC LIMIT 1
                """)
            defer { s.reset() }
            guard try s.step(), let at = s.date(1) else { return nil }
            return (s.string(0) ?? "", at)
        }
    }
}
