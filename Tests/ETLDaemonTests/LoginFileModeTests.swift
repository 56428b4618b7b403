import ETLDaemon
import ETLHTTP
import ETLTestSupport
import Foundation
import XCTest

/// `spotifyd-etl login` stores a refresh token. Run by the real binary under a permissive
/// umask (as from a root shell, or umask 0), against the emulator's auto-approving
/// /authorize: the state directory it creates is 0700, the database 0600, and a database or
/// side file left with looser modes is tightened.
final class LoginFileModeTests: XCTestCase {
    /// Permission bits of `path`, or nil when it does not exist.
    func mode(_ path: String) -> Int? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return Int(st.st_mode & 0o7777)
    }

    /// Runs `login` under `umask`, plays the browser, and returns the process's output.
    func login(_ h: Harness, umask: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "umask \(umask) && exec \"$0\" \"$@\"", Harness.binary,
                       "login", "--config", h.configURL.path, "--port", "0", "--timeout", "60"]
        p.environment = h.environment
        let out = h.dir.appendingPathComponent("login-\(umask).out"), err = h.dir.appendingPathComponent("login-\(umask).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        func read(_ u: URL) -> String { (try? String(contentsOf: u, encoding: .utf8)) ?? "" }

        var authorize: String?
        for _ in 0..<200 where authorize == nil {
            authorize = read(out).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.contains("/authorize?") }
            if authorize == nil { usleep(50_000) }
        }
        let url = try XCTUnwrap(authorize, "login printed no authorize URL: \(read(out)) \(read(err))")
        // The browser: the emulator approves at once and redirects to the loopback callback.
        let http = CurlHTTPClient()
        let redirect = try http.send(HTTPRequest(url: url, timeout: 10))
        XCTAssertEqual(redirect.status, 302)
        let location = try XCTUnwrap(redirect.header("location"))
        XCTAssertEqual(try http.send(HTTPRequest(url: location, timeout: 10)).status, 200)
        p.waitUntilExit()
        return (p.terminationStatus, read(out), read(err))
    }

    /// Every entry under `dir`, recursively, with group/other permission bits set.
    func looseEntries(under dir: String) -> [String] {
        let names = (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String]) ?? []
        return names.compactMap { n in
            let path = dir + "/" + n
            return (mode(path) ?? 0) & 0o077 != 0 ? "\(n) \(String(mode(path) ?? 0, radix: 8))" : nil
        }
    }

    func testUmaskZeroStillGivesAnOwnerOnlyDirectoryAndDatabase() throws {
        let h = try Harness(.init(scenario: "small"))
        let stateDir = (h.statePath as NSString).deletingLastPathComponent
        XCTAssertNil(mode(stateDir), "the state directory must not exist yet")
        let r = try login(h, umask: "000")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("refresh token stored in"), r.stdout)
        XCTAssertEqual(mode(stateDir), 0o700)
        XCTAssertEqual(mode(h.statePath), 0o600)
        XCTAssertEqual(looseEntries(under: stateDir), [], "files readable by others in the state directory")
        XCTAssertEqual(try h.sqlite("SELECT count(*) FROM kv WHERE key = '\(Components.storedRefreshTokenKey)'"), "1",
                       "no refresh token stored")
    }

    func testUmask022TightensAnExistingLooseDatabaseAndSideFile() throws {
        let h = try Harness(.init(scenario: "small"))
        let stateDir = (h.statePath as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o750])
        // Left by an earlier run under a loose umask: an empty database and a stale WAL.
        _ = FileManager.default.createFile(atPath: h.statePath, contents: nil, attributes: [.posixPermissions: 0o644])
        _ = FileManager.default.createFile(atPath: h.statePath + "-wal", contents: nil, attributes: [.posixPermissions: 0o666])
        XCTAssertEqual(mode(h.statePath), 0o644)
        let r = try login(h, umask: "022")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(mode(h.statePath), 0o600)
        if let wal = mode(h.statePath + "-wal") { XCTAssertEqual(wal, 0o600) }
        XCTAssertEqual(looseEntries(under: stateDir), [], "files readable by others in the state directory")
        // A directory that already existed is not ours to change (it may be shared).
        XCTAssertEqual(mode(stateDir), 0o750)
    }
}
