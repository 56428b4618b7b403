import CSQLite

/// Errors from the state database. The storage-level cases name the path and say the cause in
/// plain words, because an operator reading the journal must see "disk full" rather than an
/// SQLite result code.
public enum StateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// SQLITE_FULL: the filesystem (or the database's page limit) has no room.
    case diskFull(path: String, message: String)
    /// SQLITE_IOERR: the kernel reported an I/O error.
    case ioError(path: String, message: String)
    /// SQLITE_READONLY: the database or its directory cannot be written.
    case readOnly(path: String, message: String)
    /// SQLITE_CANTOPEN: the file cannot be opened or created (missing directory, permissions).
    case cannotOpen(path: String, message: String)
    /// SQLITE_CORRUPT or SQLITE_NOTADB: the file is damaged or is not an SQLite database.
    case corrupt(path: String, message: String)
    /// Any other SQLite failure, with its extended result code and message.
    case sqlite(path: String, code: Int32, message: String)
    /// The schema on disk is newer than this binary knows (a downgrade): refuse to touch it.
    case schemaTooNew(path: String, found: Int, known: Int)
    /// A stored outbox payload could not be decoded (corruption or a bug): names the row.
    case corruptPayload(outboxID: Int64, reason: String)
    /// A playlist's stored membership blob could not be decoded (corruption or a bug).
    case corruptMembership(playlistID: String, reason: String)
    /// A batch id that does not exist in the ledger.
    case unknownBatch(Int64)

    public var description: String {
        switch self {
        case .diskFull(let p, let m): return "state database \(p): disk full (\(m))"
        case .ioError(let p, let m): return "state database \(p): I/O error (\(m))"
        case .readOnly(let p, let m): return "state database \(p): read-only, cannot write (\(m))"
        case .cannotOpen(let p, let m): return "state database \(p): cannot open or create (\(m))"
        case .corrupt(let p, let m): return "state database \(p): corrupt or not a database (\(m))"
        case .sqlite(let p, let c, let m): return "state database \(p): SQLite error \(c): \(m)"
        case .schemaTooNew(let p, let f, let k):
            return "state database \(p): schema version \(f) is newer than this binary supports (\(k))"
        case .corruptPayload(let id, let r): return "outbox row \(id): undecodable payload (\(r))"
        case .corruptMembership(let id, let r): return "stored membership of playlist \(id) is unreadable (\(r))"
        case .unknownBatch(let id): return "unknown batch \(id)"
        }
    }

    /// Maps an SQLite result code to the plain-words case.
    static func from(code: Int32, message: String, path: String) -> StateError {
        switch code & 0xFF {
        case SQLITE_FULL: return .diskFull(path: path, message: message)
        case SQLITE_IOERR: return .ioError(path: path, message: message)
        case SQLITE_READONLY: return .readOnly(path: path, message: message)
        case SQLITE_CANTOPEN: return .cannotOpen(path: path, message: message)
        case SQLITE_CORRUPT, SQLITE_NOTADB: return .corrupt(path: path, message: message)
        default: return .sqlite(path: path, code: code, message: message)
        }
    }

    /// Which storage failure this is, for status and metric codes; nil for the cases that are
    /// not about the storage itself (schema, payload decoding, unknown ids, other SQLite codes).
    public var storageFailure: StorageFailure? {
        switch self {
        case .diskFull: return .diskFull
        case .readOnly: return .readOnly
        case .ioError: return .ioError
        case .cannotOpen: return .cannotOpen
        case .corrupt: return .corrupt
        case .sqlite, .schemaTooNew, .corruptPayload, .corruptMembership, .unknownBatch: return nil
        }
    }

    /// True for the cases that mean "storage cannot take writes right now".
    public var isStorageFailure: Bool { storageFailure != nil }
}

/// The kinds of storage failure. Raw values are the stable snake_case codes used in metrics
/// and the status socket.
public enum StorageFailure: String, Sendable, Equatable {
    case diskFull = "disk_full"
    case readOnly = "read_only"
    case ioError = "io_error"
    case cannotOpen = "cannot_open"
    case corrupt
}
