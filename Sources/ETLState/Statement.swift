import CSQLite
import FoundationEssentials

/// SQLite copies bound text/blobs before `bind` returns (we never keep Swift buffers alive).
let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement. Binding indexes are 1-based, column indexes 0-based, as in the C API.
/// Not thread-safe: the owning `Database` is used under the store's lock.
final class Statement {
    let handle: OpaquePointer
    unowned let db: Database

    init(db: Database, sql: String) throws {
        self.db = db
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(db.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let s = stmt else {
            sqlite3_finalize(stmt)
            throw db.error(rc)
        }
        handle = s
    }

    deinit { sqlite3_finalize(handle) }

    /// Clears bindings and resets, so a cached statement starts clean.
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ i: Int32, _ v: Int64) throws { try check(sqlite3_bind_int64(handle, i, v)) }
    func bind(_ i: Int32, _ v: Int) throws { try check(sqlite3_bind_int64(handle, i, Int64(v))) }
    func bind(_ i: Int32, _ v: Double) throws { try check(sqlite3_bind_double(handle, i, v)) }
    func bindNull(_ i: Int32) throws { try check(sqlite3_bind_null(handle, i)) }

    func bind(_ i: Int32, _ v: String) throws {
        var s = v
        let rc = s.withUTF8 { buf -> Int32 in
            guard let base = buf.baseAddress, buf.count > 0 else {
                return sqlite3_bind_text(handle, i, "", 0, SQLITE_TRANSIENT)
            }
            return base.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                sqlite3_bind_text(handle, i, $0, Int32(buf.count), SQLITE_TRANSIENT)
            }
        }
        try check(rc)
    }

    /// Binds `bytes` (UTF-8) as text WITHOUT copying (SQLITE_STATIC): the caller must keep
    /// the memory valid and unchanged until the statement has run, and rebind before the next
    /// step. For hot loops that encode into one reused buffer.
    func bindTextNoCopy(_ i: Int32, _ bytes: UnsafeBufferPointer<UInt8>) throws {
        let rc = bytes.withMemoryRebound(to: CChar.self) { b -> Int32 in
            guard let base = b.baseAddress, b.count > 0 else {
                return sqlite3_bind_text(handle, i, "", 0, SQLITE_TRANSIENT)
            }
            return sqlite3_bind_text(handle, i, base, Int32(b.count), nil)  // nil = SQLITE_STATIC
        }
        try check(rc)
    }

    func bind(_ i: Int32, _ v: [UInt8]) throws {
        let rc = v.withUnsafeBytes { raw -> Int32 in
            sqlite3_bind_blob(handle, i, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), SQLITE_TRANSIENT)
        }
        try check(rc)
    }

    func bind(_ i: Int32, _ v: String?) throws { if let v { try bind(i, v) } else { try bindNull(i) } }
    func bind(_ i: Int32, _ v: Int64?) throws { if let v { try bind(i, v) } else { try bindNull(i) } }
    func bind(_ i: Int32, _ v: Int?) throws { if let v { try bind(i, v) } else { try bindNull(i) } }
    /// Dates are stored as REAL seconds since the epoch.
    func bind(_ i: Int32, _ v: Date?) throws {
        if let v { try bind(i, v.timeIntervalSince1970) } else { try bindNull(i) }
    }

    /// Steps once: true when a row is available, false when done.
    @discardableResult
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let err = db.error(rc)
        sqlite3_reset(handle)
        throw err
    }

    /// Runs to completion (for writes), then resets.
    func run() throws {
        defer { reset() }
        while try step() {}
    }

    /// As `run`, but keeps the bindings: for loops that rebind every parameter before each
    /// run. SQLite then reuses the buffers of its copies of bound text instead of freeing
    /// them at every clear and allocating them again at the next bind.
    func runKeepingBindings() throws {
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    func isNull(_ c: Int32) -> Bool { sqlite3_column_type(handle, c) == SQLITE_NULL }
    func int64(_ c: Int32) -> Int64 { sqlite3_column_int64(handle, c) }
    func int(_ c: Int32) -> Int { Int(sqlite3_column_int64(handle, c)) }
    func double(_ c: Int32) -> Double { sqlite3_column_double(handle, c) }

    func string(_ c: Int32) -> String? {
        guard let p = sqlite3_column_text(handle, c) else { return nil }
        let n = Int(sqlite3_column_bytes(handle, c))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    /// The column's text bytes without copying; valid only inside `body`.
    func withTextBytes<T>(_ c: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        let p = sqlite3_column_text(handle, c)
        let n = Int(sqlite3_column_bytes(handle, c))
        return try body(UnsafeBufferPointer(start: p, count: p == nil ? 0 : n))
    }

    /// The column's blob bytes without copying; valid only inside `body`.
    func withBlobBytes<T>(_ c: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        let p = sqlite3_column_blob(handle, c)
        let n = Int(sqlite3_column_bytes(handle, c))
        return try body(UnsafeBufferPointer(start: p?.assumingMemoryBound(to: UInt8.self), count: p == nil ? 0 : n))
    }

    func date(_ c: Int32) -> Date? {
        isNull(c) ? nil : Date(timeIntervalSince1970: double(c))
    }

    private func check(_ rc: Int32) throws {
        if rc != SQLITE_OK { throw db.error(rc) }
    }
}
