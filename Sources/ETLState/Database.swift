import CSQLite
import FoundationEssentials
import ETLCore
import Glibc

/// A thin owner of one SQLite connection. Opens (creating the file, not its directory), sets
/// WAL + synchronous=FULL so a committed transaction survives power loss, enforces foreign
/// keys, and waits up to 5 s on a lock held by another process (e.g. `spotifyd-etl status`).
/// The WAL file is bounded: SQLite truncates it to `walSizeLimit` whenever it restarts the
/// log after a complete checkpoint (`PRAGMA journal_size_limit`); without that, a WAL that
/// once grew (a long reader holding checkpoints back) keeps its size on disk forever.
/// Not thread-safe by itself: `StateStore` serialises access with a lock.
final class Database {
    /// The default WAL size limit: 64 MiB.
    static let defaultWALSizeLimit = 64 << 20

    let handle: OpaquePointer
    let path: String
    private var cache: [String: Statement] = [:]

    /// Process-wide SQLite settings that must precede the first open; evaluated once.
    private static let configured: Int32 = etl_sqlite3_disable_memstatus()

    init(path: String, walSizeLimit: Int = Database.defaultWALSizeLimit) throws {
        self.path = path
        _ = Database.configured
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let h = db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let ext = db.map { sqlite3_extended_errcode($0) } ?? rc
            sqlite3_close_v2(db)
            throw StateError.from(code: ext, message: msg + Database.osHint(path), path: path)
        }
        handle = h
        sqlite3_extended_result_codes(h, 1)
        sqlite3_busy_timeout(h, 5000)
        do {
            // A file opened read-only by SQLite (no write permission) fails loudly here
            // instead of at the first commit.
            if sqlite3_db_readonly(h, "main") == 1 {
                throw StateError.readOnly(path: path, message: "file is not writable")
            }
            try exec("PRAGMA journal_mode=WAL")
            try exec("PRAGMA synchronous=FULL")
            try exec("PRAGMA journal_size_limit=\(max(0, walSizeLimit))")
            try exec("PRAGMA foreign_keys=ON")
            // Touch the schema so an unreadable or non-database file fails at open.
            try exec("SELECT count(*) FROM sqlite_master")
        } catch {
            cache.removeAll()
            sqlite3_close_v2(h)
            throw error
        }
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Builds the error for a failing result code from the connection's current message.
    func error(_ rc: Int32) -> StateError {
        let ext = sqlite3_extended_errcode(handle)
        let code = (ext & 0xFF) == (rc & 0xFF) ? ext : rc
        let msg = String(cString: sqlite3_errmsg(handle))
        return StateError.from(code: code, message: msg, path: path)
    }

    /// Executes SQL with no parameters, discarding any rows (also runs PRAGMAs that return one).
    func exec(_ sql: String) throws {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let msg = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errmsg)
            let ext = sqlite3_extended_errcode(handle)
            throw StateError.from(code: (ext & 0xFF) == (rc & 0xFF) ? ext : rc, message: msg, path: path)
        }
    }

    /// A fresh statement (for one-off queries).
    func prepare(_ sql: String) throws -> Statement { try Statement(db: self, sql: sql) }

    /// A cached statement for hot paths, reset and with bindings cleared.
    func cached(_ sql: String) throws -> Statement {
        if let s = cache[sql] { s.reset(); return s }
        let s = try Statement(db: self, sql: sql)
        cache[sql] = s
        return s
    }

    /// Runs `body` inside BEGIN IMMEDIATE … COMMIT. IMMEDIATE takes the write lock up front,
    /// so a busy database fails at BEGIN (after busy_timeout) rather than mid-way. Any throw,
    /// including a failing COMMIT (e.g. disk full), rolls everything back.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try exec("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try exec("COMMIT")
            return result
        } catch {
            // SQLite may already have rolled back (e.g. after SQLITE_FULL); ignore that error.
            if sqlite3_get_autocommit(handle) == 0 { _ = try? exec("ROLLBACK") }
            throw error
        }
    }

    /// A checkpoint that never waits: copies every WAL frame no reader still needs into the
    /// database and, when that was all of them, truncates the WAL to zero bytes. With a
    /// reader or writer in the way (another process) it does what it can and returns false.
    @discardableResult
    func checkpointTruncatingWAL() throws -> Bool {
        sqlite3_busy_timeout(handle, 0)
        defer { sqlite3_busy_timeout(handle, 5000) }
        var logFrames: Int32 = 0, checkpointed: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_TRUNCATE, &logFrames, &checkpointed)
        if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { return false }
        guard rc == SQLITE_OK else { throw error(rc) }
        return true
    }

    var changes: Int { Int(sqlite3_changes(handle)) }
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    func scalarInt(_ sql: String) throws -> Int64 {
        let s = try prepare(sql)
        guard try s.step() else { return 0 }
        return s.int64(0)
    }

    /// errno-based hint for open failures (e.g. "No such file or directory").
    private static func osHint(_ path: String) -> String {
        let dir = Paths.parent(path)
        var st = stat()
        if !dir.isEmpty, stat(dir, &st) != 0 { return "; directory \(dir) does not exist" }
        if !dir.isEmpty, (st.st_mode & S_IFMT) != S_IFDIR { return "; \(dir) is not a directory" }
        if !dir.isEmpty, access(dir, W_OK) != 0 { return "; directory \(dir) is not writable" }
        return ""
    }
}
