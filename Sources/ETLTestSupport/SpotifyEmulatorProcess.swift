import ETLCore
import ETLHTTP
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A failure starting or talking to the emulator; carries the emulator's stderr tail when useful.
public struct SpotifyEmulatorError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Launches `scripts/emulator/spotify_emulator.py` (python3 from PATH) as a real loopback peer
/// and drives its `/_emulator/` control endpoints. Tests talk to the real process over sockets,
/// never to a mock. See scripts/emulator/README.md for the contract.
///
/// The process is terminated by its PID in `stop()` / `deinit`; it also exits on its own when
/// this process dies (`--exit-with-parent`), so a crashed test run leaves no orphan behind.
public final class SpotifyEmulatorProcess: Sendable {
    public struct Options: Sendable {
        public var scenario: String
        public var playlists: Int?
        public var items: Int?
        public var seed: Int?
        public var clientID: String
        public var clientSecret: String
        public var tokenTTL: Int?
        public var devMode: Bool
        public var extraArguments: [String]

        public init(scenario: String = "small", playlists: Int? = nil, items: Int? = nil, seed: Int? = nil,
                    clientID: String = "test-client", clientSecret: String = "test-secret",
                    tokenTTL: Int? = nil, devMode: Bool = false, extraArguments: [String] = []) {
            self.scenario = scenario
            self.playlists = playlists
            self.items = items
            self.seed = seed
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.tokenTTL = tokenTTL
            self.devMode = devMode
            self.extraArguments = extraArguments
        }
    }

    public let options: Options
    public let port: Int
    /// `http://127.0.0.1:PORT/v1` — the Web API base.
    public var apiURL: String { "http://127.0.0.1:\(port)/v1" }
    /// `http://127.0.0.1:PORT` — the accounts base (`/api/token`, `/authorize`).
    public var accountsURL: String { "http://127.0.0.1:\(port)" }
    public var pid: Int32 { process.processIdentifier }

    private let process: Process
    private let workDir: URL
    private let stderrURL: URL
    private let http = CurlHTTPClient(userAgent: "etl-test-support")
    private let stopped = Guarded(false)

    public convenience init(scenario: String = "small", devMode: Bool = false) throws {
        try self.init(options: Options(scenario: scenario, devMode: devMode))
    }

    public init(options: Options, startTimeout: Double = 20) throws {
        self.options = options
        let fm = FileManager.default
        workDir = fm.temporaryDirectory.appendingPathComponent("spotify-emu-\(UUID().uuidString)")
        try fm.createDirectory(at: workDir, withIntermediateDirectories: true)
        let portFile = workDir.appendingPathComponent("port")
        stderrURL = workDir.appendingPathComponent("stderr.log")
        _ = fm.createFile(atPath: stderrURL.path, contents: nil)

        let script = TestSupport.packageRoot + "/scripts/emulator/spotify_emulator.py"
        var args = ["python3", script, "--port", "0", "--port-file", portFile.path, "--exit-with-parent",
                    "--scenario", options.scenario,
                    "--client-id", options.clientID, "--client-secret", options.clientSecret]
        if let n = options.playlists { args += ["--playlists", String(n)] }
        if let n = options.items { args += ["--items", String(n)] }
        if let n = options.seed { args += ["--seed", String(n)] }
        if let n = options.tokenTTL { args += ["--token-ttl", String(n)] }
        if options.devMode { args.append("--dev-mode") }
        args += options.extraArguments

        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: stderrURL)
        try p.run()
        process = p

        // Poll for the port file: short sleeps bounded by the start timeout (startup only).
        let deadline = Date().addingTimeInterval(startTimeout)
        var found: Int?
        while Date() < deadline {
            if let s = try? String(contentsOf: portFile, encoding: .utf8),
               let n = Int(s.trimmingCharacters(in: .whitespacesAndNewlines)) {
                found = n
                break
            }
            if !p.isRunning { break }
            usleep(20_000)
        }
        guard let found else {
            let err = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            try? fm.removeItem(at: workDir)
            throw SpotifyEmulatorError("spotify emulator did not start within \(startTimeout)s: \(err.suffix(2000))")
        }
        port = found
    }

    deinit { stop() }

    /// Terminates the emulator by PID (SIGTERM, then SIGKILL after 5 s). Idempotent.
    public func stop() {
        // Held until the peer is gone, so a concurrent second call returns only after it.
        stopped.withLock { stopped in
            if stopped { return }
            stopped = true
            TestSupport.terminate(process)
            try? FileManager.default.removeItem(at: workDir)
        }
    }

    /// The emulator's stderr so far (tracebacks, or request logs with SPOTIFY_EMULATOR_LOG=1).
    public var stderrText: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    // MARK: control endpoints

    /// Sends JSON to a control endpoint (`path` relative to the root, e.g. "/_emulator/stats")
    /// and returns the decoded JSON. Throws on transport errors and non-2xx statuses.
    @discardableResult
    public func control(_ method: String, _ path: String, json: Any? = nil) throws -> Any {
        var body: Data?
        var headers: [(String, String)] = []
        if let json {
            body = try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed])
            headers.append(("Content-Type", "application/json"))
        }
        // The emulator's own answers (the truth of a 100k-item scenario is tens of MB) are not
        // the API's: no 16 MiB page cap here.
        let resp = try http.send(HTTPRequest(method: method, url: accountsURL + path, headers: headers, body: body, timeout: 30,
                                             maxBodyBytes: 1 << 30))
        let decoded = resp.body.isEmpty ? [String: Any]() : try JSONSerialization.jsonObject(with: resp.body, options: [.fragmentsAllowed])
        guard (200..<300).contains(resp.status) else {
            throw SpotifyEmulatorError("\(method) \(path) → \(resp.status): \(String(decoding: resp.body, as: UTF8.self))")
        }
        return decoded
    }

    private func object(_ method: String, _ path: String, json: Any? = nil) throws -> [String: Any] {
        guard let d = try control(method, path, json: json) as? [String: Any] else {
            throw SpotifyEmulatorError("\(method) \(path): response is not a JSON object")
        }
        return d
    }

    /// `{"requests", "by_route", "by_playlist", "violations", ...}`.
    public func stats() throws -> [String: Any] { try object("GET", "/_emulator/stats") }
    public func resetStats() throws { try control("POST", "/_emulator/stats/reset") }
    /// `{"playlists": [...], "history": [...], "ever": {...}}` — the ground truth.
    public func truth() throws -> [String: Any] { try object("GET", "/_emulator/truth") }

    /// Applies mutation ops to one playlist; returns `{"playlist_id","snapshot_id","total","name"}`.
    @discardableResult
    public func mutate(_ playlistID: String, _ ops: [[String: Any]]) throws -> [String: Any] {
        try object("POST", "/_emulator/mutate", json: ["playlist_id": playlistID, "ops": ops])
    }

    @discardableResult
    public func mutateRandom(seed: Int, playlists: Int) throws -> [String: Any] {
        try object("POST", "/_emulator/mutate_random", json: ["seed": seed, "playlists": playlists])
    }

    /// Appends fault rules (see README); `clearFaults()` removes them and the 429 window.
    public func setFaults(_ rules: [[String: Any]]) throws { try control("POST", "/_emulator/faults", json: rules) }
    public func clearFaults() throws { try control("DELETE", "/_emulator/faults") }

    public func expireAccessTokens() throws { try control("POST", "/_emulator/tokens", json: ["expire_access": true]) }
    public func revokeRefreshTokens() throws { try control("POST", "/_emulator/tokens", json: ["revoke_refresh": true]) }
    public func restoreRefreshTokens() throws { try control("POST", "/_emulator/tokens", json: ["restore_refresh": true]) }

    /// Creates a playlist on the fly; returns `{"id","snapshot_id","total"}`.
    @discardableResult
    public func createPlaylist(name: String? = nil, owned: Bool = true, devRestricted: Bool = false, items: Int = 0) throws -> [String: Any] {
        var body: [String: Any] = ["owned": owned, "dev_restricted": devRestricted, "items": items]
        if let name { body["name"] = name }
        return try object("POST", "/_emulator/playlists", json: body)
    }

    /// All playlist ids in scenario order (including the 403 and 404 ones in `small`).
    public func playlistIDs() throws -> [String] {
        (try object("GET", "/_emulator/playlists")["ids"] as? [String]) ?? []
    }

    /// Violations of a 429 Retry-After window so far.
    public func violations() throws -> Int { (try stats()["violations"] as? Int) ?? -1 }

    /// A client-credentials access token, fetched through the real accounts endpoint.
    public func clientCredentialsToken() throws -> String {
        let basic = Data("\(options.clientID):\(options.clientSecret)".utf8).base64EncodedString()
        let resp = try http.send(HTTPRequest(method: "POST", url: accountsURL + "/api/token",
                                             headers: [("Authorization", "Basic \(basic)"),
                                                       ("Content-Type", "application/x-www-form-urlencoded")],
                                             body: Data("grant_type=client_credentials".utf8)))
        guard resp.status == 200,
              let obj = try JSONSerialization.jsonObject(with: resp.body) as? [String: Any],
              let tok = obj["access_token"] as? String else {
            throw SpotifyEmulatorError("token request failed: \(resp.status)")
        }
        return tok
    }
}
