import ETLHealth
import Foundation
import XCTest

/// SO_PEERGROUPS: the supplementary groups the kernel recorded for the connecting process,
/// which is how a member of the service's group is recognised under `PrivateUsers=yes`.
final class PeerGroupsTests: XCTestCase {
    func testPeerGroupsAreTheConnectingProcessGroups() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to give the client other groups (setpriv)") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(dir.path, 0o755), 0, "nobody must reach the socket")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.sock").path

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(chmod(path, 0o777), 0)
        XCTAssertEqual(listen(fd, 1), 0)

        // A client as nobody with supplementary groups 4242 and 4343.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        client.arguments = ["--reuid=65534", "--regid=65534", "--groups=4242,4343", "/usr/bin/python3", "-c",
                            "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(1)", path]
        try client.run()
        defer { if client.isRunning { client.terminate() } }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&pfd, 1, 15_000), 1, "the client did not connect")
        guard pfd.revents & Int16(POLLIN) != 0 else { return }
        let conn = accept(fd, nil, nil)
        XCTAssertGreaterThanOrEqual(conn, 0)
        defer { close(conn) }
        let groups = try XCTUnwrap(ControlAuthorization.peerGroups(fd: conn))
        XCTAssertEqual(Set(groups), [4242, 4343])
        let all = ControlAuthorization.peerSupplementaryGroups(fd: conn, uid: 65534)
        XCTAssertTrue(Set(all).isSuperset(of: [4242, 4343]))
        let peer = PeerCredentials(pid: client.processIdentifier, uid: 65534, gid: 65534)
        XCTAssertTrue(ControlAuthorization.isAllowed(peer: peer, daemonUID: 1000, daemonGID: 4343, peerSupplementaryGroups: all),
                      "a member of the daemon's group is allowed")
        XCTAssertFalse(ControlAuthorization.isAllowed(peer: peer, daemonUID: 1000, daemonGID: 5555, peerSupplementaryGroups: all),
                       "anyone else is refused")
    }
}
