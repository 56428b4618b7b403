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
// @unchecked Sendable: the sqlite3 connection (`db`) and `seenLookups` are only touched under `lock`.
public final class StateStore: @unchecked Sendable {
    public let path: String
    let db: Database
    private let lock = Lock()
    private let clock: Clock
    /// Ids looked up in `seen` per kind since open (guarded by `lock`); see `seenLookupCounts()`.
    private var seenLookups: [DimensionKind: Int] = [:]

    /// Opens (creating the file, not its directory) and migrates the database at `path`.
    /// Throws `StateError` naming the path, e.g. `.cannotOpen` when the directory is missing.
    /// `walSizeLimit` bounds the `-wal` file on disk (see `Database`); tests pass a small one.
    public init(path: String, clock: Clock = SystemClock(), walSizeLimit: Int = 64 << 20) throws {
        self.path = path
        self.clock = clock
        db = try Database(path: path, walSizeLimit: walSizeLimit)
        try Migrations.migrate(db)
    }

    /// The schema version on disk (PRAGMA user_version).
    public func schemaVersion() throws -> Int {
        try locked { Int(try db.scalarInt("PRAGMA user_version")) }
    }

    @inline(__always)
    func locked<T>(_ body: () throws -> T) rethrows -> T {
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
        var out: [Watermark] = []
        try forEachWatermark { out.append($0) }
        return out
    }

    /// Every stored watermark in playlist-id order, one at a time, so a caller that needs a
    /// few fields of 100,000 of them (`status`) never holds them all. `body` runs under the
    /// store's lock: it must not call the store.
    public func forEachWatermark(_ body: (Watermark) throws -> Void) throws {
        try locked {
            let s = try db.cached("SELECT \(Self.watermarkColumns) FROM watermarks ORDER BY playlist_id")
            defer { s.reset() }
            while try s.step() { try body(readWatermark(s)) }
        }
    }

    /// Records a poll that committed no snapshot: unchanged snapshot (`error == nil`, which
    /// also clears a previous error) or a failure (`error` set, stamped with `at`). Never
    /// touches snapshot, count or membership. Creates the watermark row if missing.
    public func recordPoll(playlistID: String, at: Date, error: String?, nextDueAt: Date?) throws {
        try locked { try writePollMark(playlistID: playlistID, .polled(at: at, error: error, nextDueAt: nextDueAt)) }
    }

    /// Sets only the next due time (e.g. a rate gate pushing every playlist back).
    public func setNextDue(playlistID: String, at: Date?) throws {
        try locked { try writePollMark(playlistID: playlistID, .nextDue(at)) }
    }

    /// What a poll that committed no snapshot changes in its playlist's watermark.
    public enum PollMark: Sendable, Equatable {
        /// As `recordPoll(playlistID:at:error:nextDueAt:)`.
        case polled(at: Date, error: String?, nextDueAt: Date?)
        /// As `setNextDue(playlistID:at:)`: last poll and last error stay as they are.
        case nextDue(Date?)
    }

    /// A poll that committed no snapshot, in ONE transaction: its watermark update (`mark`)
    /// and its `polls` row appended to the outbox. Either both are stored or neither (a state
    /// database that cannot be written stores no row). One small write transaction, like
    /// `recordPoll` alone.
    public func recordPoll(playlistID: String, _ mark: PollMark, row: Row) throws {
        let createdAt = clock.now()
        try locked {
            try db.transaction {
                try writePollMark(playlistID: playlistID, mark)
                try insertOutbox([row], createdAt: createdAt)
            }
        }
    }

    /// Under the lock: the watermark upsert of `mark`.
    private func writePollMark(playlistID: String, _ mark: PollMark) throws {
        switch mark {
        case .polled(let at, let error, let nextDueAt):
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
        case .nextDue(let at):
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
    /// Throws `.corruptMembership` naming the playlist if its stored blob cannot be decoded.
    public func members(_ playlistID: String) throws -> [Member] {
        try locked {
            let s = try db.cached("SELECT data FROM member_sets WHERE playlist_id = ?")
            defer { s.reset() }
            try s.bind(1, playlistID)
            guard try s.step() else { return [] }
            let decoded: Result<[Member], MemberSetCodec.DecodeError> = s.withBlobBytes(0) { b in
                do throws(MemberSetCodec.DecodeError) { return .success(try MemberSetCodec.decode(b)) } catch { return .failure(error) }
            }
            switch decoded {
            case .success(let members): return members
            case .failure(let e): throw StateError.corruptMembership(playlistID: playlistID, reason: e.description)
            }
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

    /// Makes the stored membership of a playlist equal to `members` (inside the caller's
    /// transaction): one blob, kept in `members()` order (position, then item key, then the
    /// ordinal telling repeated occurrences of one item apart in snapshot order). An
    /// unchanged membership (a rename-only snapshot) is not rewritten.
    private func replaceMembers(playlistID: String, with members: [Member]) throws {
        let blob = MemberSetCodec.encode(Self.canonicalOrder(members))
        let sel = try db.cached("SELECT data FROM member_sets WHERE playlist_id = ?")
        try sel.bind(1, playlistID)
        let same = try sel.step() && sel.withBlobBytes(0) { $0.elementsEqual(blob) }
        sel.reset()
        if same { return }
        let upsert = try db.cached("""
            INSERT INTO member_sets(playlist_id, data) VALUES (?, ?)
            ON CONFLICT(playlist_id) DO UPDATE SET data = excluded.data
            """)
        try upsert.bind(1, playlistID)
        try upsert.bind(2, blob)
        try upsert.run()
    }

    /// `members` sorted by (position, item key, ordinal), where the ordinal numbers repeated
    /// occurrences of one key in the given order. Snapshot order is already sorted, so the
    /// usual cost is one pass.
    static func canonicalOrder(_ members: [Member]) -> [Member] {
        func before(_ a: Member, _ b: Member) -> Bool {
            a.position != b.position ? a.position < b.position : a.itemKey < b.itemKey
        }
        if zip(members, members.dropFirst()).allSatisfy({ !before($1, $0) }) { return members }
        // Enumerated offsets keep equal (position, key) pairs in their given order, which is
        // their ordinal order.
        return members.enumerated().sorted { x, y in
            before(x.element, y.element) || (!before(y.element, x.element) && x.offset < y.offset)
        }.map(\.element)
    }

    /// Checkpoints the WAL into the database and truncates it, without waiting for other
    /// connections (see `Database.checkpointTruncatingWAL`); the flusher calls it after each
    /// cycle, so the WAL does not sit at its high-water mark between bursts of commits.
    /// Returns false when another connection kept part of the WAL in use.
    @discardableResult
    public func checkpointWAL() throws -> Bool {
        try locked { try db.checkpointTruncatingWAL() }
    }

    /// True when `PRAGMA quick_check` finds the database file sound. Reads every page: for
    /// telling a damaged database from a transient failure, not for a hot path.
    public func quickCheck() -> Bool {
        locked {
            guard let s = try? db.prepare("PRAGMA quick_check"), (try? s.step()) == true else { return false }
            return s.string(0) == "ok"
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
