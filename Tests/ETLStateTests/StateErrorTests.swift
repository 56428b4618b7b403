import Foundation
import XCTest
@testable import ETLState

/// Storage failures are typed: each SQLite result code the daemon must tell an operator about
/// maps to its own case and `StorageFailure` kind, and a file that is not a database fails as
/// `.corrupt` rather than as an anonymous SQLite error.
final class StateErrorTests: XCTestCase {
    private func tempPath() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("state-error-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent("state.db").path
    }

    func testGarbageFileIsCorrupt() throws {
        let path = try tempPath()
        // Not an SQLite header, and enough bytes for SQLite to read a page's worth.
        var rng = SystemRandomNumberGenerator()
        let garbage = (0..<16_384).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try Data(Array("this is not a database\n".utf8) + garbage).write(to: URL(fileURLWithPath: path))
        let store: StateStore
        do {
            store = try StateStore(path: path)
        } catch let e as StateError {
            XCTAssertEqual(e.storageFailure, .corrupt, "\(e)")
            XCTAssertTrue(e.isStorageFailure)
            guard case .corrupt(let p, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, path)
            return
        }
        // Opening may be lazy; then the first query must fail the same way.
        XCTAssertThrowsError(try store.schemaVersion()) { e in
            XCTAssertEqual((e as? StateError)?.storageFailure, .corrupt, "\(e)")
        }
    }

    func testResultCodesMapToKinds() {
        // Primary codes, and extended ones (primary | n << 8) as SQLite reports them.
        let cases: [(Int32, StorageFailure?)] = [
            (13, .diskFull),            // SQLITE_FULL
            (10, .ioError),             // SQLITE_IOERR
            (10 | 3 << 8, .ioError),    // SQLITE_IOERR_WRITE
            (8, .readOnly),             // SQLITE_READONLY
            (8 | 4 << 8, .readOnly),    // SQLITE_READONLY_DBMOVED
            (14, .cannotOpen),          // SQLITE_CANTOPEN
            (11, .corrupt),             // SQLITE_CORRUPT
            (11 | 3 << 8, .corrupt),    // SQLITE_CORRUPT_INDEX
            (26, .corrupt),             // SQLITE_NOTADB
            (5, nil),                   // SQLITE_BUSY
            (19, nil),                  // SQLITE_CONSTRAINT
            (1, nil),                   // SQLITE_ERROR
        ]
        for (code, kind) in cases {
            let e = StateError.from(code: code, message: "m", path: "/p")
            XCTAssertEqual(e.storageFailure, kind, "code \(code): \(e)")
            XCTAssertEqual(e.isStorageFailure, kind != nil, "code \(code)")
            if kind == nil { XCTAssertEqual(e, .sqlite(path: "/p", code: code, message: "m")) }
        }
        XCTAssertEqual(StateError.from(code: 26, message: "file is not a database", path: "/p"),
                       .corrupt(path: "/p", message: "file is not a database"))
        XCTAssertEqual(StateError.corrupt(path: "/p", message: "file is not a database").description,
                       "state database /p: corrupt or not a database (file is not a database)")
    }

    func testStorageFailureCodes() {
        XCTAssertEqual(StorageFailure.diskFull.rawValue, "disk_full")
        XCTAssertEqual(StorageFailure.readOnly.rawValue, "read_only")
        XCTAssertEqual(StorageFailure.ioError.rawValue, "io_error")
        XCTAssertEqual(StorageFailure.cannotOpen.rawValue, "cannot_open")
        XCTAssertEqual(StorageFailure.corrupt.rawValue, "corrupt")
        XCTAssertNil(StateError.schemaTooNew(path: "/p", found: 9, known: 3).storageFailure)
        XCTAssertNil(StateError.corruptPayload(outboxID: 1, reason: "r").storageFailure)
        XCTAssertNil(StateError.unknownBatch(1).storageFailure)
    }

    func testMissingDirectoryCannotOpen() throws {
        let path = try tempPath() + ".d/missing/state.db"
        XCTAssertThrowsError(try StateStore(path: path)) { e in
            XCTAssertEqual((e as? StateError)?.storageFailure, .cannotOpen, "\(e)")
        }
    }
}
