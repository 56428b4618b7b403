import ETLCore

/// The schema, as a forward-only list. `PRAGMA user_version` records how many entries have
/// been applied; each pending entry runs in its own transaction together with the version
/// bump, so a crash mid-migration leaves the previous version intact. Never edit a shipped
/// entry: append a new one.
enum Migrations {
    /// One schema step: SQL, or Swift code for a data conversion SQL cannot express.
    enum Step: Sendable {
        case sql(String)
        case code(@Sendable (Database) throws -> Void)
    }

    static let all: [Step] = [
        // 1: initial schema.
        .sql("""
        CREATE TABLE watermarks(
            playlist_id TEXT PRIMARY KEY NOT NULL,
            snapshot_id TEXT,
            item_count INTEGER,
            max_added_at TEXT,
            name TEXT,
            last_polled_at REAL,
            last_changed_at REAL,
            last_error TEXT,
            last_error_at REAL,
            next_due_at REAL
        ) WITHOUT ROWID;

        CREATE TABLE members(
            playlist_id TEXT NOT NULL,
            item_key TEXT NOT NULL,
            ordinal INTEGER NOT NULL,
            item_type TEXT NOT NULL CHECK (item_type IN ('track','episode','local')),
            track_id TEXT,
            episode_id TEXT,
            position INTEGER NOT NULL,
            added_at TEXT,
            added_by TEXT,
            PRIMARY KEY (playlist_id, item_key, ordinal)
        ) WITHOUT ROWID;

        CREATE TABLE seen(
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            complete INTEGER NOT NULL,
            PRIMARY KEY (kind, id)
        ) WITHOUT ROWID;

        CREATE TABLE reject_seen(
            playlist_id TEXT NOT NULL,
            raw_hash TEXT NOT NULL,
            PRIMARY KEY (playlist_id, raw_hash)
        ) WITHOUT ROWID;

        CREATE TABLE kv(
            key TEXT PRIMARY KEY NOT NULL,
            value TEXT NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE batches(
            batch_id INTEGER PRIMARY KEY AUTOINCREMENT,
            table_name TEXT NOT NULL,
            object_key TEXT NOT NULL UNIQUE,
            row_count INTEGER NOT NULL,
            byte_estimate INTEGER NOT NULL,
            sealed_at REAL NOT NULL,
            uploaded_at REAL,
            location TEXT,
            etag TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE INDEX batches_unuploaded ON batches(batch_id) WHERE uploaded_at IS NULL;

        CREATE TABLE outbox(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            table_name TEXT NOT NULL,
            payload TEXT NOT NULL,
            approx_bytes INTEGER NOT NULL,
            created_at REAL NOT NULL,
            batch_id INTEGER REFERENCES batches(batch_id)
        );
        CREATE INDEX outbox_unsealed ON outbox(table_name, id) WHERE batch_id IS NULL;
        CREATE INDEX outbox_by_batch ON outbox(batch_id, id) WHERE batch_id IS NOT NULL;
        """),
        // 2: outbox entries and batches as ranges (see Outbox.swift). An entry holds one
        // table's rows from one commit; a sealed batch is recorded as the positions of its
        // first and last rows (entry id, row index) instead of a batch_id stamped on every
        // row. Every schema-1 row becomes an entry of one row (NULL lengths) with its id, and
        // batches sealed but not yet uploaded get their ranges from their rows, so a batch
        // sealed before the upgrade keeps the same rows, key and bytes. The AUTOINCREMENT
        // counter carries over, so entry ids never go back.
        .sql("""
        ALTER TABLE batches ADD COLUMN first_id INTEGER;
        ALTER TABLE batches ADD COLUMN first_row INTEGER;
        ALTER TABLE batches ADD COLUMN last_id INTEGER;
        ALTER TABLE batches ADD COLUMN last_row INTEGER;
        UPDATE batches SET
            first_id = (SELECT MIN(id) FROM outbox WHERE outbox.batch_id = batches.batch_id), first_row = 0,
            last_id = (SELECT MAX(id) FROM outbox WHERE outbox.batch_id = batches.batch_id), last_row = 0
        WHERE uploaded_at IS NULL;
        CREATE INDEX batches_by_table ON batches(table_name);

        CREATE TABLE outbox_v2(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            table_name TEXT NOT NULL,
            row_count INTEGER NOT NULL,
            approx_bytes INTEGER NOT NULL,
            created_at REAL NOT NULL,
            payload BLOB NOT NULL,
            lengths BLOB
        );
        INSERT INTO outbox_v2(id, table_name, row_count, approx_bytes, created_at, payload, lengths)
            SELECT id, table_name, 1, approx_bytes, created_at, CAST(payload AS BLOB), NULL FROM outbox;
        INSERT INTO sqlite_sequence(name, seq)
            SELECT 'outbox_v2', seq FROM sqlite_sequence WHERE name = 'outbox'
            AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox_v2');
        UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'))
            WHERE name = 'outbox_v2';
        DROP TABLE outbox;
        ALTER TABLE outbox_v2 RENAME TO outbox;
        CREATE INDEX outbox_by_table ON outbox(table_name, id);
        """),
        // 3: a playlist's membership as one blob (`MemberSetCodec`) instead of a row per
        // member: it is only ever read and written whole.
        .code { db in
            try db.exec("""
                CREATE TABLE member_sets(
                    playlist_id TEXT PRIMARY KEY NOT NULL,
                    data BLOB NOT NULL
                ) WITHOUT ROWID
                """)
            let sel = try db.prepare("""
                SELECT playlist_id, item_key, item_type, track_id, episode_id, position, added_at, added_by
                FROM members ORDER BY playlist_id, position, item_key, ordinal
                """)
            let ins = try db.prepare("INSERT INTO member_sets(playlist_id, data) VALUES (?, ?)")
            var current: String?
            var members: [Member] = []
            func flush() throws {
                guard let id = current else { return }
                try ins.bind(1, id)
                try ins.bind(2, MemberSetCodec.encode(members))
                try ins.run()
                members.removeAll(keepingCapacity: true)
            }
            while try sel.step() {
                let id = sel.string(0) ?? ""
                if id != current { try flush(); current = id }
                members.append(Member(itemKey: sel.string(1) ?? "", itemType: ItemType(rawValue: sel.string(2) ?? "") ?? .track,
                                      trackID: sel.string(3), episodeID: sel.string(4), position: sel.int(5),
                                      addedAt: sel.string(6), addedBy: sel.string(7)))
            }
            try flush()
            sel.reset()
            try db.exec("DROP TABLE members")
        },
        // 4: track dimension fingerprints (`DimsFingerprint`): for a track, a 64-bit hash of
        // its album id and artist ids, recorded in the transaction that recorded those ids
        // seen. NULL for rows written before this migration (and for other kinds): unknown.
        .sql("""
        ALTER TABLE seen ADD COLUMN dims INTEGER;
        """),
        // Quarantine: a sealed batch whose rows cannot be read or encoded is copied to the
        // dead-letter directory and stamped here, so it is never retried and never blocks the
        // batches after it (`quarantined_at`; `dead_letter` is the copy's path; the cause goes
        // to `last_error`).
        .sql("""
        ALTER TABLE batches ADD COLUMN quarantined_at REAL;
        ALTER TABLE batches ADD COLUMN dead_letter TEXT;
        """),
        // Multipart uploads started and not yet completed or aborted (`PendingAborts`):
        // recorded before the first part, deleted once completed or aborted, so an abort that
        // could not run (or a crash mid-upload) is retried later instead of leaving parts behind.
        .sql("""
        CREATE TABLE pending_aborts(
            bucket TEXT NOT NULL,
            object_key TEXT NOT NULL,
            upload_id TEXT NOT NULL,
            started_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            PRIMARY KEY (bucket, object_key, upload_id)
        ) WITHOUT ROWID;
        """),
    ]

    /// Applies every pending migration. Returns the resulting version.
    @discardableResult
    static func migrate(_ db: Database) throws -> Int {
        let current = Int(try db.scalarInt("PRAGMA user_version"))
        guard current <= all.count else {
            throw StateError.schemaTooNew(path: db.path, found: current, known: all.count)
        }
        for v in current..<all.count {
            try db.transaction {
                try apply(all[v], to: db)
                try db.exec("PRAGMA user_version = \(v + 1)")
            }
        }
        return all.count
    }

    /// Runs one step (inside the caller's transaction).
    static func apply(_ step: Step, to db: Database) throws {
        switch step {
        case .sql(let sql): try db.exec(sql)
        case .code(let body): try body(db)
        }
    }
}
