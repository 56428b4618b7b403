/// The schema, as a forward-only list. `PRAGMA user_version` records how many entries have
/// been applied; each pending entry runs in its own transaction together with the version
/// bump, so a crash mid-migration leaves the previous version intact. Never edit a shipped
/// entry: append a new one.
enum Migrations {
    static let all: [String] = [
        // 1: initial schema.
        """
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
        """,
        // Track dimension fingerprints (`DimsFingerprint`): for a track, a 64-bit hash of its
        // album id and artist ids, recorded in the transaction that recorded those ids seen.
        // NULL for rows written before this migration (and for other kinds): unknown.
        """
        ALTER TABLE seen ADD COLUMN dims INTEGER;
        """,
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
                try db.exec(all[v])
                try db.exec("PRAGMA user_version = \(v + 1)")
            }
        }
        return all.count
    }
}
