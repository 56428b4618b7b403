import Foundation

/// A small python3 program as a loopback peer, for behaviour the other peers do not have
/// (a body that trickles out, a peer that accepts and then says nothing).
///
/// `script` is Python. It runs after a prelude that defines `listen()`: binds a TCP socket on
/// 127.0.0.1 with an ephemeral port, publishes the port (atomically, through a port file) and
/// returns the listening socket. The peer exits when this process dies, and `stop()` / `deinit`
/// end it by its PID.
public final class ScriptedPeer: Sendable {
    public let port: Int
    private let process: Process
    private let workDir: URL

    public struct LaunchError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    private static let prelude = """
        import os, socket, sys, threading, time
        _parent = os.getppid()
        def _watch_parent():
            while os.getppid() == _parent:
                time.sleep(0.5)
            os._exit(0)
        threading.Thread(target=_watch_parent, daemon=True).start()
        def listen():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(16)
            with open(sys.argv[1] + ".tmp", "w") as f:
                f.write(str(s.getsockname()[1]))
            os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            return s
        def read_request_head(conn):
            buf = b""
            while b"\\r\\n\\r\\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                buf += chunk
            return buf

        """

    public init(script: String, startTimeout: TimeInterval = 20) throws {
        let fm = FileManager.default
        workDir = fm.temporaryDirectory.appendingPathComponent("peer-\(UUID().uuidString)")
        try fm.createDirectory(at: workDir, withIntermediateDirectories: true)
        let portFile = workDir.appendingPathComponent("port")
        let stderrURL = workDir.appendingPathComponent("stderr.log")
        _ = fm.createFile(atPath: stderrURL.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", Self.prelude + script, portFile.path]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: stderrURL)
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(startTimeout)
        var found: Int?
        while Date() < deadline {
            if let s = try? String(contentsOf: portFile, encoding: .utf8), let n = Int(s) { found = n; break }
            if !p.isRunning { break }
            usleep(20_000)
        }
        guard let found else {
            let err = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
            TestSupport.terminate(p)
            try? fm.removeItem(at: workDir)
            throw LaunchError(description: "scripted peer did not start within \(startTimeout)s: \(err.suffix(2000))")
        }
        port = found
    }

    /// `http://127.0.0.1:PORT`
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public func stop() {
        TestSupport.terminate(process)
        try? FileManager.default.removeItem(at: workDir)
    }

    deinit { stop() }
}
