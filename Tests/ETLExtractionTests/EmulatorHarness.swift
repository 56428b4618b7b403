import ETLCore
import ETLHTTP
import ETLTestSupport
import Foundation
import XCTest
@testable import ETLExtraction

/// The real Spotify emulator (scripts/emulator/spotify_emulator.py) on loopback, plus the
/// small amount of glue these tests need: fault injection and request statistics through its
/// /_emulator/ control endpoints.
final class Emulator {
    let process = Process()
    let port: Int
    let portFile: String
    let http = CurlHTTPClient()
    var apiURL: String { "http://127.0.0.1:\(port)/v1" }
    var accountsURL: String { "http://127.0.0.1:\(port)" }
    var controlURL: String { "http://127.0.0.1:\(port)/_emulator" }

    static let clientID = "test-client"
    static let clientSecret = "test-secret"

    init(extraArguments: [String] = []) throws {
        let script = ProcessInfo.processInfo.environment["SPOTIFY_EMULATOR_SCRIPT"]
            ?? TestSupport.packageRoot + "/scripts/emulator/spotify_emulator.py"
        guard FileManager.default.fileExists(atPath: script) else {
            throw NSError(domain: "Emulator", code: 1, userInfo: [NSLocalizedDescriptionKey: "missing \(script)"])
        }
        portFile = FileManager.default.temporaryDirectory.appendingPathComponent("emu-port-\(UUID().uuidString)").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--port", "0", "--port-file", portFile, "--scenario", "small",
                             "--client-id", Emulator.clientID, "--client-secret", Emulator.clientSecret] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        var found: Int?
        while Date() < deadline {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8),
               let p = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), p > 0
            {
                found = p
                break
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard let found else {
            if process.isRunning { process.terminate() }
            throw NSError(domain: "Emulator", code: 2, userInfo: [NSLocalizedDescriptionKey: "emulator did not start"])
        }
        port = found
    }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: portFile)
    }

    @discardableResult
    func control(_ method: String, _ path: String, json: Any? = nil) throws -> Any? {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0) }
        let r = try http.send(HTTPRequest(method: method, url: controlURL + path,
                                          headers: body == nil ? [] : [("Content-Type", "application/json")],
                                          body: body, timeout: 10))
        guard (200..<300).contains(r.status) else {
            throw NSError(domain: "Emulator", code: r.status, userInfo: [
                NSLocalizedDescriptionKey: "control \(method) \(path) → \(r.status): \(String(decoding: r.body, as: UTF8.self))"])
        }
        return r.body.isEmpty ? nil : try? JSONSerialization.jsonObject(with: r.body)
    }

    /// Queues a canned answer for the next `times` requests whose path matches `path`.
    func fault(path: String, status: Int, headers: [String: String] = [:], body: String? = nil, times: Int = 1) throws {
        var f: [String: Any] = ["path": path, "status": status, "headers": headers, "times": times]
        if let body { f["body"] = body }
        try control("POST", "/faults", json: f)
    }

    func stats() throws -> [String: Any] {
        (try control("GET", "/stats") as? [String: Any]) ?? [:]
    }

    /// Requests the emulator has answered on `path` (exact, without query).
    func requestCount(_ path: String) throws -> Int {
        ((try stats()["by_path"] as? [String: Any])?[path] as? NSNumber)?.intValue ?? 0
    }

    var totalRequests: Int { ((try? stats()["requests"]) as? NSNumber)?.intValue ?? -1 }
    var violations: Int { ((try? stats()["violations"]) as? NSNumber)?.intValue ?? -1 }
    var tokenRequests: Int { ((try? stats()["token_requests"]) as? NSNumber)?.intValue ?? -1 }

    /// Ground truth: a playlist the test app may read, and one it may not (dev mode).
    func playlists() throws -> [[String: Any]] {
        ((try control("GET", "/truth") as? [String: Any])?["playlists"] as? [[String: Any]]) ?? []
    }
}

/// Records short-backoff sleeps instead of sleeping, so retry tests run at full speed.
final class RecordingSleeper: Sleeper, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [Double] = []
    var sleeps: [Double] { lock.lock(); defer { lock.unlock() }; return recorded }
    func sleep(seconds: Double) { lock.lock(); recorded.append(seconds); lock.unlock() }
}

/// A clock the test moves by hand (token expiry arithmetic without waiting an hour).
final class ManualClock: ETLCore.Clock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(_ start: Date = Date()) { current = start }
    func now() -> Date { lock.lock(); defer { lock.unlock() }; return current }
    func advance(_ seconds: Double) { lock.lock(); current = current.addingTimeInterval(seconds); lock.unlock() }
}
