import Foundation
import Logging

/// Records events in memory so tests can assert what a component logged.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var _events: [LogEvent] = []
    var events: [LogEvent] { lock.lock(); defer { lock.unlock() }; return _events }
    func append(_ e: LogEvent) { lock.lock(); _events.append(e); lock.unlock() }

    var logger: Logger {
        Logger(label: "test") { _ in CapturingLogHandler(capture: self) }
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        var e = event
        var m = metadata
        if let em = event.metadata { m.merge(em) { _, n in n } }
        e.metadata = m
        capture.append(e)
    }
}

/// Runs `body` with fd 2 pointing at a fresh temp file; returns what was written there.
func withStderrRedirected(_ body: (String) throws -> Void) rethrows -> String {
    let path = NSTemporaryDirectory() + "/etl-stderr-\(UUID().uuidString)"
    let fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0o600)
    precondition(fd >= 0)
    fflush(stderr)
    let saved = dup(2)
    dup2(fd, 2)
    defer {
        fflush(stderr)
        dup2(saved, 2)
        close(saved)
        close(fd)
        unlink(path)
    }
    try body(path)
    fflush(stderr)
    return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
}
