import Foundation
/// Shared test support: launchers for the real peers (Spotify emulator, moto, IMDS emulator)
/// on loopback, temporary directories, and sd_notify receivers. Used only by test targets.
public enum TestSupport {
    /// The package root, found from this file's path, so tests can find scripts/.
    public static var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }
}

extension TestSupport {
    /// Ends a peer the test started, by its PID: SIGTERM, then SIGKILL if it has not exited
    /// within `grace` seconds, so a wedged peer can never hang the suite.
    public static func terminate(_ process: Process, grace: TimeInterval = 5) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

extension TestSupport {
    /// Waits for the port a peer it launched writes to `file` (a decimal number), reading it
    /// every `interval` seconds until `deadline`. Nil when the deadline passes or the process
    /// exits first.
    public static func waitForPort(in file: URL, of process: Process, until deadline: Date,
                                   interval: TimeInterval) -> Int? {
        while Date() < deadline {
            if let s = try? String(contentsOf: file, encoding: .utf8),
               let p = Int(s.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return p
            }
            if !process.isRunning { return nil }
            Thread.sleep(forTimeInterval: interval)
        }
        return nil
    }
}
