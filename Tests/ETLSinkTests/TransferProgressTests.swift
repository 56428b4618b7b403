import ETLCore
import ETLHTTP
import ETLTestSupport
import Foundation
import Synchronization
import XCTest

/// Transfer progress and low-speed limits of the libcurl transport, against real loopback
/// peers: one that trickles a body out in chunks, one that accepts and then sends nothing.
final class TransferProgressTests: XCTestCase {
    static let chunk = 16 << 10
    static let chunks = 12

    /// Answers every request with `chunks` x `chunk` bytes, one chunk every 0.15 s.
    static let tricklingPeer = """
        CHUNK, COUNT, GAP = \(chunk), \(chunks), 0.15
        def serve(conn):
            try:
                if read_request_head(conn) is None:
                    return
                conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/octet-stream\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % (CHUNK * COUNT))
                for i in range(COUNT):
                    time.sleep(GAP)
                    conn.sendall(bytes([65 + i % 26]) * CHUNK)
            finally:
                conn.close()
        s = listen()
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
        """

    /// Reads the request, then holds the connection open without a byte for a minute.
    static let silentPeer = """
        def serve(conn):
            try:
                read_request_head(conn)
                time.sleep(60)
            finally:
                conn.close()
        s = listen()
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
        """

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The result of a request sent on another thread.
    final class Outcome: Sendable {
        private let result = Guarded<Result<HTTPResponse, any Error>?>(nil)
        var value: Result<HTTPResponse, any Error>? { result.withLock { $0 } }
        func set(_ r: Result<HTTPResponse, any Error>) { result.withLock { $0 = r } }
    }

    struct Sample {
        var total: Int
        var lastMoved: Double
        var active: Int
    }

    func testProgressMovesWhileASlowBodyArrives() throws {
        let peer = try ScriptedPeer(script: Self.tricklingPeer)
        defer { peer.stop() }
        let client = CurlHTTPClient()
        let progress = TransferProgress()
        let created = progress.lastMovedMonotonic
        XCTAssertEqual(progress.totalBytes, 0)
        XCTAssertEqual(progress.activeTransfers, 0)
        // No total timeout: the low-speed limit is what bounds it, and ~100 KB/s is well above it.
        let request = HTTPRequest(url: peer.baseURL + "/slow", timeout: 0,
                                  lowSpeed: LowSpeedLimit(bytesPerSecond: 1000, seconds: 2), progress: progress)

        let outcome = Outcome()
        let thread = Thread { outcome.set(Result { try client.send(request) }) }
        thread.start()
        var samples: [Sample] = []
        let deadline = Date().addingTimeInterval(30)
        while outcome.value == nil && Date() < deadline {
            samples.append(Sample(total: progress.totalBytes, lastMoved: progress.lastMovedMonotonic, active: progress.activeTransfers))
            usleep(20_000)
        }
        let response = try XCTUnwrap(outcome.value, "request did not finish").get()
        let expected = Self.chunk * Self.chunks
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body.count, expected)

        let during = samples.filter { $0.active == 1 }
        XCTAssertTrue(during.contains { $0.total > 0 && $0.total < expected },
                      "bytes counted while the body was still arriving: \(during.map(\.total))")
        XCTAssertGreaterThanOrEqual(Set(during.map(\.total)).count, 4, "the count grew chunk by chunk")
        let stamps = during.map(\.lastMoved)
        XCTAssertGreaterThanOrEqual(Set(stamps).count, 4, "lastMovedMonotonic advanced during the transfer")
        XCTAssertEqual(stamps, stamps.sorted(), "never moves backwards")
        XCTAssertTrue(during.allSatisfy { $0.lastMoved > created })

        XCTAssertEqual(progress.totalBytes, expected, "download bytes, counted once")
        XCTAssertEqual(progress.activeTransfers, 0)
        XCTAssertLessThanOrEqual(progress.lastMovedMonotonic, Self.monotonicSeconds())
        XCTAssertLessThan(progress.secondsSinceLastMove, 1)
    }

    func testLowSpeedLimitCutsASilentPeerWithoutATotalTimeout() throws {
        let peer = try ScriptedPeer(script: Self.silentPeer)
        defer { peer.stop() }
        let progress = TransferProgress()
        let request = HTTPRequest(url: peer.baseURL + "/stall", timeout: 0,
                                  lowSpeed: LowSpeedLimit(bytesPerSecond: 1000, seconds: 2), progress: progress)
        let start = Self.monotonicSeconds()
        XCTAssertThrowsError(try CurlHTTPClient().send(request)) { error in
            guard let e = error as? HTTPTransportError else { return XCTFail("not a transport error: \(error)") }
            XCTAssertTrue(e.isTimeout, "\(e)")
        }
        let elapsed = Self.monotonicSeconds() - start
        XCTAssertGreaterThanOrEqual(elapsed, 1.5, "cut by the 2 s low-speed window, not at once")
        XCTAssertLessThanOrEqual(elapsed, 5.5, "cut by the low-speed window, not left hanging")
        XCTAssertEqual(progress.totalBytes, 0)
        XCTAssertEqual(progress.activeTransfers, 0)
    }

    func testMovedIgnoresNothingAndAccumulates() {
        let progress = TransferProgress()
        let created = progress.lastMovedMonotonic
        progress.moved(bytes: 0)
        XCTAssertEqual(progress.lastMovedMonotonic, created)
        usleep(2_000)
        progress.moved(bytes: 10)
        progress.moved(bytes: 5)
        XCTAssertEqual(progress.totalBytes, 15)
        XCTAssertGreaterThan(progress.lastMovedMonotonic, created)
        let inside = progress.tracking { progress.activeTransfers }
        XCTAssertEqual(inside, 1)
        XCTAssertEqual(progress.activeTransfers, 0)
    }
}
