import CSQLite
import ETLCore
import FoundationEssentials

/// The daemon's durable memory: playlist watermarks and membership, seen dimension ids,
/// reject dedup, small key/value facts, and the outbox of rows waiting to be sealed into
/// batches and uploaded, plus the batch ledger.
///
/// One SQLite connection guarded by a lock, so any thread may call in. The one write that
/// matters for correctness is `commit(_:)`: state and outbox rows change in one transaction.
/// Ids stay in SQLite (WITHOUT ROWID b-trees) rather than in memory so a million seen tracks
/// cost disk, not RSS.
public final class StateStore: @unchecked Sendable {
    public let path: String
    let db: Database
    private let lock = Lock()
    private let clock: Clock
    /// Ids looked up in `seen` per kind since open (guarded by `lock`); see `seenLookupCounts()`.
    private var seenLookups: [DimensionKind: Int] = [:]

    /// Opens (creating the file, not its directory) and migrates the database at `path`.
    /// Throws `StateError` naming the path, e.g. `.cannotOpen` when the directory is missing.
    public init(path: String, clock: Clock = SystemClock()) throws {
        self.path = path
        self.clock = clock
        db = try Database(path: path)
        try Migrations.migrate(db)
    }

    /// The schema version on disk (PRAGMA user_version).
    public func schemaVersion() throws -> Int {
        try locked { Int(try db.scalarInt("PRAGMA user_version")) }
    }

    @inline(__always)
    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: - Watermarks

    private static let watermarkColumns = """
        playlist_id, snapshot_id, item_count, max_added_at, name, last_polled_at, last_changed_at, \
        last_error, last_error_at, next_due_at
        """

    private func readWatermark(_ s: Statement) -> Watermark {
        Watermark(playlistID: s.string(0) ?? "", snapshotID: s.string(1), itemCount: s.isNull(2) ? nil : s.int(2),
                  maxAddedAt: s.string(3), name: s.string(4), lastPolledAt: s.date(5), lastChangedAt: s.date(6),
                  lastError: s.string(7), lastErrorAt: s.date(8), nextDueAt: s.date(9))
    }

    public func watermark(_ playlistID: String) throws -> Watermark? {
        try locked {
            let s = try db.cached("SELECT \(Self.watermarkColumns) FROM watermarks WHERE playlist_id = ?")
            defer { s.reset() }
            try s.bind(1, playlistID)
            return try s.step() ? readWatermark(s) : nil
        }
    }

    /// All watermarks, ordered by playlist id.
    public func allWatermarks() throws -> [Watermark] {
        try locked {
            let s = try db.cached("SELECT \(Self.watermarkColumns) FROM watermarks ORDER BY playlist_id")
            defer { s.reset() }
            var out: [Watermark] = []
            while try s.step() { out.append(readWatermark(s)) }
            return out
        }
    }

    /// Records a poll that committed no snapshot: unchanged snapshot (`error == nil`, which
    /// also clears a previous error) or a failure (`error` set, stamped with `at`). Never
    /// touches snapshot, count or membership. Creates the watermark row if missing.
    public func recordPoll(playlistID: String, at: Date, error: String?, nextDueAt: Date?) throws {
        try locked {
            let s = try db.cached("""
                INSERT INTO watermarks(playlist_id, last_polled_at, last_error, last_error_at, next_due_at)
                VALUES (?1, ?2, ?3, CASE WHEN ?3 IS NULL THEN NULL ELSE ?2 END, ?4)
                ON CONFLICT(playlist_id) DO UPDATE SET
                    last_polled_at = excluded.last_polled_at,
                    last_error = excluded.last_error,
                    last_error_at = excluded.last_error_at,
                    next_due_at = excluded.next_due_at
                """)
            try s.bind(1, playlistID)
            try s.bind(2, at)
            try s.bind(3, error)
            try s.bind(4, nextDueAt)
            try s.run()
        }
    }

    /// Sets only the next due time (e.g. a rate gate pushing every playlist back).
    public func setNextDue(playlistID: String, at: Date?) throws {
        try locked {
            let s = try db.cached("""
                INSERT INTO watermarks(playlist_id, next_due_at) VALUES (?1, ?2)
                ON CONFLICT(playlist_id) DO UPDATE SET next_due_at = excluded.next_due_at
                """)
            try s.bind(1, playlistID)
            try s.bind(2, at)
            try s.run()
        }
    }

    // MARK: - Membership

    /// The stored membership of a playlist, ordered by position (then key/ordinal for ties).
    public func members(_ playlistID: String) throws -> [Member] {
        try locked {
            let s = try db.cached("""
                SELECT item_key, item_type, track_id, episode_id, position, added_at, added_by
                FROM members WHERE playlist_id = ? ORDER BY position, item_key, ordinal
                """)
            defer { s.reset() }
            try s.bind(1, playlistID)
            var out: [Member] = []
            while try s.step() {
                out.append(Member(itemKey: s.string(0) ?? "", itemType: ItemType(rawValue: s.string(1) ?? "") ?? .track,
                                  trackID: s.string(2), episodeID: s.string(3), position: s.int(4),
                                  addedAt: s.string(5), addedBy: s.string(6)))
            }
            return out
        }
    }

    // MARK: - Seen dimension ids

    /// States of `ids` of one kind; every requested id is present in the result (`.unseen`
    /// when never written). One indexed lookup per id on a cached statement: no id set is
    /// loaded into memory.
    public func seenStates(kind: DimensionKind, ids: [String]) throws -> [String: SeenState] {
        try lookUpSeen(kind: kind, ids: ids, sql: "SELECT complete FROM seen WHERE kind = ? AND id = ?") { s in
            s.int64(0) != 0 ? .complete : .incomplete
        } unseen: { .unseen }
    }

    /// As `seenStates`, with each seen id's stored `DimsFingerprint` (nil when none is stored).
    /// The same single indexed lookup per id: the fingerprint sits in the same b-tree row.
    public func seenRecords(kind: DimensionKind, ids: [String]) throws -> [String: SeenRecord] {
        try lookUpSeen(kind: kind, ids: ids, sql: "SELECT complete, dims FROM seen WHERE kind = ? AND id = ?") { s in
            SeenRecord(s.int64(0) != 0 ? .complete : .incomplete, dims: s.isNull(1) ? nil : UInt64(bitPattern: s.int64(1)))
        } unseen: { SeenRecord(.unseen) }
    }

    /// How many ids `seenStates`/`seenRecords` looked up per kind since this store was opened
    /// (each distinct id of a call counts once). For tests and diagnostics.
    public func seenLookupCounts() -> [DimensionKind: Int] {
        locked { seenLookups }
    }

    private func lookUpSeen<T>(kind: DimensionKind, ids: [String], sql: String, read: (Statement) -> T,
                               unseen: () -> T) throws -> [String: T] {
        try locked {
            let s = try db.cached(sql)
            defer { s.reset() }
            var out: [String: T] = [:]
            out.reserveCapacity(ids.count)
            // One read transaction for all lookups: outside a transaction every SELECT opens
            // and closes its own, and in WAL mode that is a lock round trip (fcntl syscalls)
            // per id — most of the cost of checking a playlist's ids against a big seen set.
            let ownTransaction = sqlite3_get_autocommit(db.handle) != 0
            if ownTransaction { try db.exec("BEGIN") }
            defer { if ownTransaction { _ = try? db.exec("COMMIT") } }
            try s.bind(1, kind.rawValue)
            var looked = 0
            // Bound without a copy, stepped while the bytes are valid; the next bind replaces
            // the binding before the next step.
            func lookUp(_ id: String) throws -> T {
                looked += 1
                var bytes = id
                return try bytes.withUTF8 { b -> T in
                    try s.bindTextNoCopy(2, b)
                    let value: T = try s.step() ? read(s) : unseen()
                    sqlite3_reset(s.handle)  // keep the kind binding
                    return value
                }
            }
            // One hash per id: the slot is found (or made) once and filled if new.
            func fill(_ slot: inout T?, _ id: String) throws { if slot == nil { slot = try lookUp(id) } }
            for id in ids { try fill(&out[id], id) }
            seenLookups[kind, default: 0] += looked
            return out
        }
    }

    /// Bulk-marks `ids` of one kind as seen in ONE transaction on one prepared statement
    /// (upsert; `complete` never regresses), without materialising the ids: pass a lazy
    /// sequence. For the pipeline benchmark (pre-seeding a million seen track ids) and for
    /// imports; the poller itself records seen ids inside `commit(_:)`. Returns the number
    /// of ids written.
    @discardableResult
    public func seedSeen<S: Sequence>(kind: DimensionKind, ids: S, complete: Bool) throws -> Int where S.Element == String {
        try seedSeen(ids.lazy.map { SeenMark(kind, $0, complete: complete) })
    }

    /// As `seedSeen(kind:ids:complete:)`, for marks that may carry a `dims` fingerprint (same
    /// upsert as `commit`). The caller vouches for the fingerprint rule of `SeenMark.dims`.
    @discardableResult
    public func seedSeen<S: Sequence>(_ marks: S) throws -> Int where S.Element == SeenMark {
        try locked {
            try db.transaction {
                let s = try db.cached(Self.upsertSeenSQL)
                var n = 0
                for m in marks {
                    try bindSeen(s, m)
                    try s.run()
                    n += 1
                }
                return n
            }
        }
    }

    public func seenState(kind: DimensionKind, id: String) throws -> SeenState {
        try seenStates(kind: kind, ids: [id])[id] ?? .unseen
    }

    // MARK: - Reject dedup

    public func isRejectSeen(playlistID: String, hash: String) throws -> Bool {
        try locked {
            let s = try db.cached("SELECT 1 FROM reject_seen WHERE playlist_id = ? AND raw_hash = ?")
            defer { s.reset() }
            try s.bind(1, playlistID)
            try s.bind(2, hash)
            return try s.step()
        }
    }

    // MARK: - Key/value facts

    /// Small persisted facts: rate-gate not-before and reason, app capabilities
    /// (e.g. `artists_batch=forbidden`), the refresh token. Values are stored as given.
    public func get(_ key: String) throws -> String? {
        try locked {
            let s = try db.cached("SELECT value FROM kv WHERE key = ?")
            defer { s.reset() }
            try s.bind(1, key)
            return try s.step() ? s.string(0) : nil
        }
    }

    /// Sets `key` to `value`; nil deletes it.
    public func set(_ key: String, _ value: String?) throws {
        try locked {
            if let value {
                let s = try db.cached("INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                try s.bind(1, key)
                try s.bind(2, value)
                try s.run()
            } else {
                let s = try db.cached("DELETE FROM kv WHERE key = ?")
                try s.bind(1, key)
                try s.run()
            }
        }
    }

    // MARK: - The atomic commit

    /// Applies a processed snapshot in ONE transaction: watermark forward (clearing any
    /// error), membership replaced (when `members` is non-nil), seen ids upserted (a
    /// `complete` id never regresses to incomplete), reject hashes recorded, outbox rows
    /// appended. On any failure nothing is persisted and the error is thrown.
    public func commit(_ c: SnapshotCommit) throws {
        let createdAt = clock.now()
        try locked {
            try db.transaction {
                let w = try db.cached("""
                    INSERT INTO watermarks(playlist_id, snapshot_id, item_count, max_added_at, name, last_polled_at,
                                           last_changed_at, last_error, last_error_at, next_due_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, ?8)
                    ON CONFLICT(playlist_id) DO UPDATE SET
                        snapshot_id = excluded.snapshot_id, item_count = excluded.item_count,
                        max_added_at = excluded.max_added_at, name = excluded.name,
                        last_polled_at = excluded.last_polled_at, last_changed_at = excluded.last_changed_at,
                        last_error = NULL, last_error_at = NULL, next_due_at = excluded.next_due_at
                    """)
                try w.bind(1, c.playlistID)
                try w.bind(2, c.snapshotID)
                try w.bind(3, c.itemCount)
                try w.bind(4, c.maxAddedAt)
                try w.bind(5, c.name)
                try w.bind(6, c.polledAt)
                try w.bind(7, c.changedAt)
                try w.bind(8, c.nextDueAt)
                try w.run()

                if let members = c.members {
                    try replaceMembers(playlistID: c.playlistID, with: members)
                }

                try insertSeen(c.seen)
                try updateDims(c.dims)

                if !c.rejectHashes.isEmpty {
                    let s = try db.cached("INSERT OR IGNORE INTO reject_seen(playlist_id, raw_hash) VALUES (?, ?)")
                    for h in c.rejectHashes {
                        try s.bind(1, c.playlistID)
                        try s.bind(2, h)
                        try s.run()
                    }
                }

                try insertOutbox(c.rows, createdAt: createdAt)
            }
        }
    }

    /// Dimension rows that are not part of a playlist snapshot (a later enrichment filling
    /// fields that were missing), with their seen marks, in one transaction.
    public func commitDimensions(seen: [SeenMark], rows: [Row]) throws {
        let createdAt = clock.now()
        try locked {
            try db.transaction {
                try insertSeen(seen)
                try insertOutbox(rows, createdAt: createdAt)
            }
        }
    }

    /// Ids recorded as incomplete (a row was written with fields missing), ascending by id,
    /// from the start or from after `after` (exclusive).
    public func incompleteIDs(kind: DimensionKind, after: String? = nil, limit: Int) throws -> [String] {
        try locked {
            let s = try db.cached(after == nil ? "SELECT id FROM seen WHERE kind = ? AND complete = 0 ORDER BY id LIMIT ?"
                                               : "SELECT id FROM seen WHERE kind = ? AND complete = 0 AND id > ? ORDER BY id LIMIT ?")
            defer { s.reset() }
            try s.bind(1, kind.rawValue)
            if let after {
                try s.bind(2, after)
                try s.bind(3, limit)
            } else {
                try s.bind(2, limit)
            }
            var out: [String] = []
            while try s.step() { out.append(s.string(0) ?? "") }
            return out
        }
    }

    /// Upsert of one seen id: `complete` never goes back to incomplete; a given `dims`
    /// replaces the stored one, a NULL keeps it (the ids of a stored fingerprint stay seen).
    private static let upsertSeenSQL = """
        INSERT INTO seen(kind, id, complete, dims) VALUES (?, ?, ?, ?)
        ON CONFLICT(kind, id) DO UPDATE SET complete = max(complete, excluded.complete),
            dims = coalesce(excluded.dims, dims)
        """

    private func bindSeen(_ s: Statement, _ m: SeenMark) throws {
        try s.bind(1, m.kind.rawValue)
        try s.bind(2, m.id)
        try s.bind(3, m.complete ? 1 : 0)
        try s.bind(4, m.dims.map { Int64(bitPattern: $0) })
    }

    /// Within a transaction: upserts seen ids (see `upsertSeenSQL`).
    private func insertSeen(_ marks: [SeenMark]) throws {
        guard !marks.isEmpty else { return }
        let s = try db.cached(Self.upsertSeenSQL)
        for m in marks {
            try bindSeen(s, m)
            try s.runKeepingBindings()
        }
    }

    /// Within a transaction: sets the fingerprint of ids that are seen (never inserts).
    private func updateDims(_ updates: [SeenDims]) throws {
        guard !updates.isEmpty else { return }
        let s = try db.cached("UPDATE seen SET dims = ? WHERE kind = ? AND id = ?")
        for u in updates {
            try s.bind(1, Int64(bitPattern: u.dims))
            try s.bind(2, u.kind.rawValue)
            try s.bind(3, u.id)
            try s.runKeepingBindings()
        }
    }

    /// Within a transaction: appends rows to the outbox.
    private func insertOutbox(_ rows: [Row], createdAt: Date) throws {
        guard !rows.isEmpty else { return }
        let s = try db.cached("INSERT INTO outbox(table_name, payload, approx_bytes, created_at) VALUES (?, ?, ?, ?)")
        // The payload is the text `JSONText.encodeValues` returns, encoded into one reused
        // buffer and bound without a copy: no String and no SQLite-side copy per row.
        var payload: [UInt8] = []
        payload.reserveCapacity(4096)
        defer { _ = try? s.bindNull(2) }  // the buffer dies with this call
        for row in rows {
            payload.removeAll(keepingCapacity: true)
            payload.append(UInt8(ascii: "["))
            for (i, v) in row.values.enumerated() {
                if i > 0 { payload.append(UInt8(ascii: ",")) }
                JSONText.appendValue(v, to: &payload)
            }
            payload.append(UInt8(ascii: "]"))
            try s.bind(1, row.table.rawValue)
            try s.bind(3, Self.approxBytes(table: row.table, payloadBytes: payload.count))
            try s.bind(4, createdAt.timeIntervalSince1970)
            try payload.withUnsafeBufferPointer { b in
                try s.bindTextNoCopy(2, b)
                try s.runKeepingBindings()  // all four rebound for every row; the payload unbound below
            }
        }
    }

    /// One stored membership row, keyed by `MemberSlot`.
    private struct StoredMember: Equatable {
        var itemType: String, trackID: String?, episodeID: String?, position: Int, addedAt: String?, addedBy: String?
    }

    private struct MemberSlot: Hashable {
        var itemKey: String
        var ordinal: Int
    }

    /// Makes the stored membership of a playlist equal to `members` (inside the caller's
    /// transaction), writing only rows that differ. A changed snapshot usually keeps most
    /// of its items in place, and rewriting every row (DELETE all + INSERT all) was the
    /// largest single cost of a re-poll; reading the rows back is far cheaper than b-tree
    /// writes. The result is the same as a full rewrite: rows keyed (item_key, ordinal),
    /// the ordinal telling repeated occurrences of one item apart in snapshot order.
    private func replaceMembers(playlistID: String, with members: [Member]) throws {
        let sel = try db.cached("""
            SELECT item_key, ordinal, item_type, track_id, episode_id, position, added_at, added_by
            FROM members WHERE playlist_id = ?
            """)
        try sel.bind(1, playlistID)
        var stored: [MemberSlot: StoredMember] = [:]
        while try sel.step() {
            stored[MemberSlot(itemKey: sel.string(0) ?? "", ordinal: sel.int(1))] =
                StoredMember(itemType: sel.string(2) ?? "", trackID: sel.string(3), episodeID: sel.string(4),
                             position: sel.int(5), addedAt: sel.string(6), addedBy: sel.string(7))
        }
        sel.reset()
        let upsert = try db.cached("""
            INSERT INTO members(playlist_id, item_key, ordinal, item_type, track_id, episode_id, position,
                                added_at, added_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(playlist_id, item_key, ordinal) DO UPDATE SET
                item_type = excluded.item_type, track_id = excluded.track_id, episode_id = excluded.episode_id,
                position = excluded.position, added_at = excluded.added_at, added_by = excluded.added_by
            """)
        var ordinals: [String: Int] = [:]
        for m in members {
            let ord = ordinals[m.itemKey, default: 0]
            ordinals[m.itemKey] = ord + 1
            let row = StoredMember(itemType: m.itemType.rawValue, trackID: m.trackID, episodeID: m.episodeID,
                                   position: m.position, addedAt: m.addedAt, addedBy: m.addedBy)
            if stored.removeValue(forKey: MemberSlot(itemKey: m.itemKey, ordinal: ord)) == row { continue }
            try upsert.bind(1, playlistID)
            try upsert.bind(2, m.itemKey)
            try upsert.bind(3, ord)
            try upsert.bind(4, row.itemType)
            try upsert.bind(5, row.trackID)
            try upsert.bind(6, row.episodeID)
            try upsert.bind(7, row.position)
            try upsert.bind(8, row.addedAt)
            try upsert.bind(9, row.addedBy)
            try upsert.runKeepingBindings()  // all nine rebound for every row
        }
        // Rows no longer in the snapshot (sorted: deterministic statement order).
        let del = try db.cached("DELETE FROM members WHERE playlist_id = ? AND item_key = ? AND ordinal = ?")
        for slot in stored.keys.sorted(by: { ($0.itemKey, $0.ordinal) < ($1.itemKey, $1.ordinal) }) {
            try del.bind(1, playlistID)
            try del.bind(2, slot.itemKey)
            try del.bind(3, slot.ordinal)
            try del.runKeepingBindings()
        }
    }

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

    // MARK: - Outbox and batches

    /// Unsealed outbox rows per table: count, byte estimate, oldest creation time.
    public func outboxSummary() throws -> [Table: OutboxTableSummary] {
        try locked {
            let s = try db.cached("""
                SELECT table_name, COUNT(*), TOTAL(approx_bytes), MIN(created_at) FROM outbox
                WHERE batch_id IS NULL GROUP BY table_name
                """)
            defer { s.reset() }
            var out: [Table: OutboxTableSummary] = [:]
            while try s.step() {
                guard let t = Table(rawValue: s.string(0) ?? "") else { continue }
                out[t] = OutboxTableSummary(rows: s.int(1), bytes: Int(s.double(2)), oldest: s.date(3))
            }
            return out
        }
    }

    /// Sealed batches not yet uploaded, per table.
    public func pendingBatchSummary() throws -> [Table: PendingBatchSummary] {
        try locked {
            let s = try db.cached("""
                SELECT table_name, COUNT(*), TOTAL(row_count), TOTAL(byte_estimate), MIN(sealed_at) FROM batches
                WHERE uploaded_at IS NULL GROUP BY table_name
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
    /// ids are never reused even after deletes), name it with `keyFor(table, batchID,
    /// sealedAt)` (pass `ObjectNaming.key`), and stamp its rows. From then on the batch's rows
    /// and key are fixed. Streams row sizes from SQLite; memory is per batch, not per row.
    public func seal(now: Date, maxRows: Int, maxBytes: Int, maxAge: TimeInterval, force: Bool,
                     keyFor: (Table, Int64, Date) -> String) throws -> [SealedBatch] {
        try locked {
            var sealed: [SealedBatch] = []
            for table in Table.allCases {
                for (first, last) in try planBatches(table: table, now: now, maxRows: maxRows, maxBytes: maxBytes,
                                                     maxAge: maxAge, force: force) {
                    let b = try db.transaction { () -> SealedBatch in
                        let agg = try db.cached("""
                            SELECT COUNT(*), TOTAL(approx_bytes) FROM outbox
                            WHERE table_name = ? AND batch_id IS NULL AND id BETWEEN ? AND ?
                            """)
                        try agg.bind(1, table.rawValue)
                        try agg.bind(2, first)
                        try agg.bind(3, last)
                        _ = try agg.step()
                        let count = agg.int(0)
                        let bytes = Int(agg.double(1))
                        agg.reset()

                        let ins = try db.cached("""
                            INSERT INTO batches(table_name, object_key, row_count, byte_estimate, sealed_at)
                            VALUES (?, 'sealing', ?, ?, ?)
                            """)
                        try ins.bind(1, table.rawValue)
                        try ins.bind(2, count)
                        try ins.bind(3, bytes)
                        try ins.bind(4, now)
                        try ins.run()
                        let id = db.lastInsertRowID
                        let key = keyFor(table, id, now)

                        let name = try db.cached("UPDATE batches SET object_key = ? WHERE batch_id = ?")
                        try name.bind(1, key)
                        try name.bind(2, id)
                        try name.run()

                        let stamp = try db.cached("""
                            UPDATE outbox SET batch_id = ? WHERE table_name = ? AND batch_id IS NULL AND id BETWEEN ? AND ?
                            """)
                        try stamp.bind(1, id)
                        try stamp.bind(2, table.rawValue)
                        try stamp.bind(3, first)
                        try stamp.bind(4, last)
                        try stamp.run()
                        return SealedBatch(batchID: id, table: table, objectKey: key, rowCount: count, byteEstimate: bytes,
                                           sealedAt: now, uploadedAt: nil, location: nil, etag: nil, attempts: 0,
                                           lastError: nil)
                    }
                    sealed.append(b)
                }
            }
            return sealed
        }
    }

    /// Runs the planner over one table's unsealed rows; returns (first id, last id) per batch.
    private func planBatches(table: Table, now: Date, maxRows: Int, maxBytes: Int, maxAge: TimeInterval,
                             force: Bool) throws -> [(Int64, Int64)] {
        let s = try db.cached("""
            SELECT id, approx_bytes, created_at FROM outbox WHERE table_name = ? AND batch_id IS NULL ORDER BY id
            """)
        defer { s.reset() }
        try s.bind(1, table.rawValue)
        var planner = SealPlanner(maxRows: maxRows, maxBytes: maxBytes)
        var plans: [(Int64, Int64)] = []
        var index = 0
        var runFirstID: Int64 = 0
        var prevID: Int64 = 0
        while try s.step() {
            let id = s.int64(0)
            for r in planner.add(bytes: s.int(1), createdAt: Date(timeIntervalSince1970: s.double(2))) {
                let lo = r.lowerBound == index ? id : runFirstID
                let hi = r.upperBound == index + 1 ? id : prevID
                plans.append((lo, hi))
            }
            if planner.count == 1 { runFirstID = id }
            prevID = id
            index += 1
        }
        if planner.remainder(now: now, maxAge: maxAge, force: force) != nil {
            plans.append((runFirstID, prevID))
        }
        return plans
    }

    private static let batchColumns = """
        batch_id, table_name, object_key, row_count, byte_estimate, sealed_at, uploaded_at, location, etag, attempts, last_error
        """

    private func readBatch(_ s: Statement) -> SealedBatch? {
        guard let t = Table(rawValue: s.string(1) ?? "") else { return nil }
        return SealedBatch(batchID: s.int64(0), table: t, objectKey: s.string(2) ?? "", rowCount: s.int(3),
                           byteEstimate: s.int(4), sealedAt: s.date(5) ?? Date(timeIntervalSince1970: 0),
                           uploadedAt: s.date(6), location: s.string(7), etag: s.string(8), attempts: s.int(9),
                           lastError: s.string(10))
    }

    /// Sealed batches awaiting upload, oldest (lowest batch id) first.
    public func unuploadedBatches() throws -> [SealedBatch] {
        try locked {
            let s = try db.cached("SELECT \(Self.batchColumns) FROM batches WHERE uploaded_at IS NULL ORDER BY batch_id")
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
    /// outbox id order, so the same batch always encodes to the same bytes. Rows are read in
    /// pages and the lock is released while `body` runs, so commits are not blocked for the
    /// length of an upload. An uploaded batch has no rows left and yields nothing.
    /// Throws `.unknownBatch` for a missing id, `.corruptPayload` for an undecodable row.
    public func forEachRow(ofBatch batchID: Int64, _ body: ([Value]) throws -> Void) throws {
        try forEachPayload(ofBatch: batchID) { _, decode in try body(decode()) }
    }

    /// As `forEachRow`, but hands `body` each row's stored payload bytes (valid only during
    /// the call) and a function decoding them (throws `.corruptPayload` as `forEachRow` does,
    /// incl. a wrong value count), so a writer can use the stored text without decoding it.
    /// A page's payloads are copied into one reused buffer: no per-row allocation.
    public func forEachPayload(ofBatch batchID: Int64,
                               _ body: (UnsafeBufferPointer<UInt8>, () throws -> [Value]) throws -> Void) throws {
        let pageSize = 512
        var after: Int64 = 0
        var columnCount = 0
        try locked {
            let s = try db.cached("SELECT table_name FROM batches WHERE batch_id = ?")
            defer { s.reset() }
            try s.bind(1, batchID)
            guard try s.step() else { throw StateError.unknownBatch(batchID) }
            columnCount = Table(rawValue: s.string(0) ?? "")?.columns.count ?? -1
        }
        var buffer: [UInt8] = []
        var rows: [(id: Int64, end: Int)] = []
        rows.reserveCapacity(pageSize)
        while true {
            buffer.removeAll(keepingCapacity: true)
            rows.removeAll(keepingCapacity: true)
            try locked {
                let s = try db.cached("SELECT id, payload FROM outbox WHERE batch_id = ? AND id > ? ORDER BY id LIMIT ?")
                defer { s.reset() }
                try s.bind(1, batchID)
                try s.bind(2, after)
                try s.bind(3, pageSize)
                while try s.step() {
                    let id = s.int64(0)
                    s.withTextBytes(1) { buffer.append(contentsOf: $0) }
                    rows.append((id, buffer.count))
                    after = id
                }
            }
            try buffer.withUnsafeBufferPointer { all in
                var start = 0
                for r in rows {
                    let bytes = UnsafeBufferPointer(rebasing: all[start..<r.end])
                    start = r.end
                    try body(bytes) {
                        let values: [Value]
                        do {
                            values = try PayloadDecoder.decode(bytes: bytes)
                        } catch {
                            throw StateError.corruptPayload(outboxID: r.id, reason: "\(error)")
                        }
                        guard values.count == columnCount else {
                            throw StateError.corruptPayload(outboxID: r.id,
                                                            reason: "\(values.count) values, table has \(columnCount) columns")
                        }
                        return values
                    }
                }
            }
            if rows.count < pageSize { return }
        }
    }

    /// Records a successful upload: in one transaction stamps the ledger row and deletes the
    /// batch's outbox rows (the ledger row stays as the record of what was written where).
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
                let d = try db.cached("DELETE FROM outbox WHERE batch_id = ?")
                try d.bind(1, batchID)
                try d.run()
            }
        }
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

    /// `PRAGMA integrity_check` output: "ok" when healthy, else the problems, one per line.
    public func integrityCheck() throws -> String {
        try locked {
            let s = try db.prepare("PRAGMA integrity_check")
            var lines: [String] = []
            while try s.step() { lines.append(s.string(0) ?? "") }
            return lines.joined(separator: "\n")
        }
    }
}
