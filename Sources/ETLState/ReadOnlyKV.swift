import CSQLite
import FoundationEssentials

/// One key of the state database's `kv` table, read through a read-only connection: for
/// commands (`check-config`) that must neither create, migrate nor write the database a
/// running daemon owns.
public enum ReadOnlyKV {
    public enum Lookup: Sendable, Equatable {
        case found(String)
        /// No database file at the path.
        case noDatabase
        /// The database exists but holds no (non-empty) value for the key.
        case notStored
        /// The database cannot be opened or read: SQLite's message.
        case unreadable(String)
    }

    public static func read(path: String, key: String) -> Lookup {
        guard FileManager.default.fileExists(atPath: path) else { return .noDatabase }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        defer { sqlite3_close_v2(db) }
        guard rc == SQLITE_OK, let h = db else {
            let why = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            return .unreadable(why)
        }
        sqlite3_busy_timeout(h, 5000)
        func unreadable() -> Lookup { .unreadable(String(cString: sqlite3_errmsg(h))) }
        // A database the daemon never migrated has no kv table: nothing stored in it.
        switch scalar(h, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'kv'", bind: nil) {
        case .row(let n) where n == "0": return .notStored
        case .row: break
        case .none: return .notStored
        case .error: return unreadable()
        }
        switch scalar(h, "SELECT value FROM kv WHERE key = ?1", bind: key) {
        case .row(let v) where !v.isEmpty: return .found(v)
        case .row, .none: return .notStored
        case .error: return unreadable()
        }
    }

    private enum Scalar { case row(String), none, error }

    private static func scalar(_ h: OpaquePointer, _ sql: String, bind: String?) -> Scalar {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(h, sql, -1, &stmt, nil) == SQLITE_OK else { sqlite3_finalize(stmt); return .error }
        defer { sqlite3_finalize(stmt) }
        if let bind {
            // SQLITE_TRANSIENT: SQLite copies the text before the call returns.
            let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
            guard sqlite3_bind_text(stmt, 1, bind, -1, transient) == SQLITE_OK else { return .error }
        }
        switch sqlite3_step(stmt) {
        case SQLITE_ROW:
            guard let p = sqlite3_column_text(stmt, 0) else { return .row("") }
            return .row(String(decoding: UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, 0))), as: UTF8.self))
        case SQLITE_DONE: return .none
        default: return .error
        }
    }
}
