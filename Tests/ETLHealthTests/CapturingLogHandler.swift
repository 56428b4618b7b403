import ETLCore
import Foundation
import Logging
import Synchronization

/// Records events in memory so tests can assert what a component logged.
final class LogCapture: Sendable {
    private let stored = Guarded<[LogEvent]>([])
    var events: [LogEvent] { stored.withLock { $0 } }
    func append(_ e: LogEvent) { stored.withLock { $0.append(e) } }

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
    fflush(nil)  // all stdio streams; `stderr` is shared mutable state to Swift 6
    let saved = dup(2)
    dup2(fd, 2)
    defer {
        fflush(nil)
        dup2(saved, 2)
        close(saved)
        close(fd)
        unlink(path)
    }
    try body(path)
    fflush(nil)
    return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
}
