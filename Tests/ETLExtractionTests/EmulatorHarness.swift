import ETLCore
import ETLHTTP
import ETLTestSupport
import Foundation
import Logging
import Synchronization
import XCTest
@testable import ETLExtraction

/// The real Spotify emulator (scripts/emulator/spotify_emulator.py) on loopback, launched by
/// the shared `SpotifyEmulatorProcess`, plus the glue these tests need: fault injection and
/// request statistics through its /_emulator/ control endpoints (README contract).
final class Emulator {
    let process: SpotifyEmulatorProcess
    var port: Int { process.port }
    var apiURL: String { process.apiURL }
    var accountsURL: String { process.accountsURL }

    static let clientID = "test-client"
    static let clientSecret = "test-secret"

    init(extraArguments: [String] = []) throws {
        process = try SpotifyEmulatorProcess(options: .init(
            scenario: "small", clientID: Emulator.clientID, clientSecret: Emulator.clientSecret,
            extraArguments: extraArguments))
    }

    func stop() { process.stop() }

    @discardableResult
    func control(_ method: String, _ path: String, json: Any? = nil) throws -> Any? {
        try process.control(method, "/_emulator" + path, json: json)
    }

    /// Queues a canned answer for the next `count` requests whose path (without query)
    /// is exactly `path`. `retryAfter` becomes the Retry-After header (and the emulator's own
    /// not-before time for 429s, against which it counts `violations`).
    func fault(path: String, status: Int, retryAfter: String? = nil, body: String? = nil, reason: String? = nil,
               count: Int = 1, truncate: Bool = false, delayMS: Int? = nil) throws
    {
        let escaped = NSRegularExpression.escapedPattern(for: path)
        var f: [String: Any] = ["path_regex": "^\(escaped)(\\?|$)", "status": status, "count": count]
        if let retryAfter { f["retry_after"] = retryAfter }
        if let body { f["body"] = body }
        if let reason { f["reason"] = reason }
        if truncate { f["truncate"] = true }
        if let delayMS { f["delay_ms"] = delayMS }
        try control("POST", "/faults", json: f)
    }

    func stats() throws -> [String: Any] {
        (try control("GET", "/stats") as? [String: Any]) ?? [:]
    }

    /// Requests the emulator counted for a route: token, playlist, items, tracks_legacy,
    /// artist, artists_batch, authorize.
    func routeCount(_ route: String) -> Int {
        (((try? stats())?["by_route"] as? [String: Any])?[route] as? NSNumber)?.intValue ?? 0
    }

    var totalRequests: Int { (((try? stats())?["requests"]) as? NSNumber)?.intValue ?? -1 }
    var violations: Int { (((try? stats())?["violations"]) as? NSNumber)?.intValue ?? -1 }
    var tokenRequests: Int { routeCount("token") }

    func truth() throws -> [String: Any] {
        try XCTUnwrap(try control("GET", "/truth") as? [String: Any])
    }

    /// An owned, readable, non-empty playlist of the scenario.
    func readablePlaylist() throws -> String {
        let pls = try XCTUnwrap(try truth()["playlists"] as? [[String: Any]])
        let p = pls.first {
            ($0["owned"] as? Bool) == true && ($0["dev_restricted"] as? Bool) != true && ($0["not_found"] as? Bool) != true
                && (($0["total"] as? NSNumber)?.intValue ?? 0) > 0
        }
        return try XCTUnwrap(p?["id"] as? String, "no readable playlist in the scenario")
    }

    /// The dev-mode-restricted playlist (not owned: /items answers 403).
    func restrictedPlaylist() throws -> String {
        let pls = try XCTUnwrap(try truth()["playlists"] as? [[String: Any]])
        return try XCTUnwrap(pls.first { ($0["dev_restricted"] as? Bool) == true }?["id"] as? String)
    }

    /// The editorial playlist that answers 404 to new apps.
    func notFoundPlaylist() throws -> String {
        let pls = try XCTUnwrap(try truth()["playlists"] as? [[String: Any]])
        return try XCTUnwrap(pls.first { ($0["not_found"] as? Bool) == true }?["id"] as? String)
    }

    func artistIDs() throws -> [String] {
        try XCTUnwrap((try truth()["ever"] as? [String: Any])?["artists"] as? [String])
    }

    /// Creates an owned playlist with `items` entries (for paging).
    func createPlaylist(items: Int) throws -> String {
        let r = try XCTUnwrap(try control("POST", "/playlists", json: ["items": items, "owned": true]) as? [String: Any])
        return try XCTUnwrap(r["id"] as? String)
    }
}

/// Records short-backoff sleeps instead of sleeping, so retry tests run at full speed.
final class RecordingSleeper: Sleeper {
    private let recorded = Guarded<[Double]>([])
    var sleeps: [Double] { recorded.withLock { $0 } }
    func sleep(seconds: Double) { recorded.withLock { $0.append(seconds) } }
}

/// A clock the test moves by hand (token expiry arithmetic without waiting an hour).
final class ManualClock: ETLCore.Clock {
    private let current: Guarded<Date>
    init(_ start: Date = Date()) { current = Guarded(start) }
    func now() -> Date { current.withLock { $0 } }
    func advance(_ seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// Every log line (message and metadata, at every level) the code under test emits, so tests
/// can assert that no secret reaches the logs.
final class CapturedLogs: Sendable {
    private let stored = Guarded<[String]>([])
    var lines: [String] { stored.withLock { $0 } }
    func append(_ line: String) { stored.withLock { $0.append(line) } }

    func logger() -> Logger {
        var l = Logger(label: "test") { _ in Handler(sink: self) }
        l.logLevel = .trace
        return l
    }

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            sink.append("\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })")
        }

        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            log(event: LogEvent(level: level, message: message, metadata: metadata, source: source,
                                file: file, function: function, line: line))
        }
    }
}
