import ETLCore
import ETLTestSupport
import Foundation
import XCTest

/// The real daemon's control socket under a flood: 100 idle connections held open, and the
/// real binary's `spotifyd-etl status` still answers; every idle connection is ended by the
/// daemon rather than left holding a slot.
final class ControlSocketFloodTests: XCTestCase {
    private func connectRaw(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        XCTAssertLessThan(bytes.count, MemoryLayout.size(ofValue: addr.sun_path))
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(r, 0, String(cString: strerror(errno)))
        return fd
    }

    /// True once the daemon closed the connection (EOF or a reset after its answer); false if
    /// it was still open after a generous wait.
    private func endedByServer(_ fd: Int32) -> Bool {
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            return n == 0 || errno == ECONNRESET
        }
    }

    func testStatusAnswersWhileHundredIdleConnectionsAreOpen() throws {
        let h = try Harness(.init(scenario: "generated", playlists: 2, items: 10, seed: 11))
        let notify = try NotifyListener(directory: h.dir)
        defer { notify.close() }
        var env = h.environment
        env["NOTIFY_SOCKET"] = notify.path
        let (daemon, _, stderrURL) = try h.launch(["run", "--config", h.configURL.path], env: env)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        XCTAssertNotNil(notify.wait { $0.contains("READY=1") })

        let socketPath = h.dir.appendingPathComponent("control.sock").path
        var idle: [Int32] = []
        defer { idle.forEach { close($0) } }
        for _ in 0..<100 { idle.append(try connectRaw(socketPath)) }

        let r = try h.run(["status", "--json", "--config", h.configURL.path])
        // 0 healthy or 1 degraded both mean it answered; 3 and 4 mean it did not.
        XCTAssertTrue(r.status == 0 || r.status == 1, "status did not answer during the flood: \(r.status) \(r.stderr)")
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr)
        XCTAssertNotNil(j["version"])

        for fd in idle { XCTAssertTrue(endedByServer(fd), "the daemon left an idle connection open") }
        XCTAssertTrue(daemon.isRunning)
        let log = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("all 16 connections in use"), log)

        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        XCTAssertEqual(daemon.terminationStatus, 0)
    }
}
