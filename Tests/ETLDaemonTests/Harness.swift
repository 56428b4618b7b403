import ETLCore
import ETLSink
import ETLTestSupport
import Foundation
import XCTest

/// Runs the real `spotifyd-etl` binary against the real emulator, with its state and output in
/// a temp directory, and reads the output files back.
final class Harness {
    let emulator: SpotifyEmulatorProcess
    let dir: URL
    var configURL: URL { dir.appendingPathComponent("spotifyd-etl.toml") }
    var outDir: URL { dir.appendingPathComponent("out") }
    var statePath: String { dir.appendingPathComponent("state/state.db").path }
    var playlistIDs: [String]

    init(_ options: SpotifyEmulatorProcess.Options, playlists: [String]? = nil, extraConfig: String = "") throws {
        emulator = try SpotifyEmulatorProcess(options: options)
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("etl-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        playlistIDs = try playlists ?? emulator.playlistIDs()
        try writeConfig(extra: extraConfig)
    }

    deinit {
        emulator.stop()
        try? FileManager.default.removeItem(at: dir)
    }

    func writeConfig(extra: String = "", concurrency: Int = 4) throws {
        var toml = """
        [spotify]
        api_url = "\(emulator.apiURL)"
        accounts_url = "\(emulator.accountsURL)"
        request_timeout = "10s"

        [schedule]
        interval = "15m"
        concurrency = \(concurrency)

        [state]
        path = "\(statePath)"

        [sink]
        kind = "local"
        path = "\(outDir.path)"
        max_age = "1s"

        [control]
        socket = "\(dir.appendingPathComponent("control.sock").path)"
        \(extra)
        """
        for id in playlistIDs { toml += "\n[[playlists]]\nid = \"\(id)\"\n" }
        try toml.write(to: configURL, atomically: true, encoding: .utf8)
    }

    static var binary: String {
        let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("spotifyd-etl").path
        if FileManager.default.isExecutableFile(atPath: sibling) { return sibling }
        return TestSupport.packageRoot + "/.build/debug/spotifyd-etl"
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["SPOTIFY_CLIENT_ID"] = emulator.options.clientID
        env["SPOTIFY_CLIENT_SECRET"] = emulator.options.clientSecret
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.removeValue(forKey: "JOURNAL_STREAM")
        env.removeValue(forKey: "CREDENTIALS_DIRECTORY")
        return env
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// Starts the binary; the caller waits or kills it.
    func launch(_ args: [String], env: [String: String]? = nil) throws -> (Process, URL, URL) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        p.environment = env ?? environment
        let out = dir.appendingPathComponent("stdout-\(UUID().uuidString)")
        let err = dir.appendingPathComponent("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        return (p, out, err)
    }

    func run(_ args: [String], env: [String: String]? = nil) throws -> Result {
        let (p, out, err) = try launch(args, env: env)
        p.waitUntilExit()
        return Result(status: p.terminationStatus,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    func once(maxWait: Double = 20, file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        try run(["run", "--once", "--config", configURL.path, "--max-wait", String(maxWait)])
    }

    // MARK: reading the output back

    /// Every output file (relative key → decoded NDJSON rows).
    func outputFiles() throws -> [String: [[String: Any]]] {
        var files: [String: [[String: Any]]] = [:]
        guard let e = FileManager.default.enumerator(at: outDir, includingPropertiesForKeys: nil) else { return files }
        for case let url as URL in e where url.pathExtension == "gz" {
            let key = String(url.path.dropFirst(outDir.path.count + 1))
            XCTAssertFalse(key.contains(".tmp-"), "partial file visible: \(key)")
            let data = try gunzip(Data(contentsOf: url))
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
            files[key] = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        }
        return files
    }

    func rows(_ table: Table) throws -> [[String: Any]] {
        try outputFiles().filter { $0.key.hasPrefix(table.rawValue + "/") }.sorted { $0.key < $1.key }.flatMap(\.value)
    }

    /// Net membership per playlist from the event log: added minus removed, as multisets of item keys.
    static func netMembership(_ events: [[String: Any]]) -> [String: [String: Int]] {
        var net: [String: [String: Int]] = [:]
        for e in events {
            let pl = e["playlist_id"] as! String, key = e["item_key"] as! String
            net[pl, default: [:]][key, default: 0] += (e["event"] as! String) == "added" ? 1 : -1
        }
        return net.mapValues { $0.filter { $0.value != 0 } }
    }

    /// The emulator's current membership (non-null items) per playlist, as multisets.
    func truthMembership(only ids: Set<String>? = nil) throws -> [String: [String: Int]] {
        var m: [String: [String: Int]] = [:]
        for p in try emulator.truth()["playlists"] as! [[String: Any]] {
            let id = p["id"] as! String
            if let ids, !ids.contains(id) { continue }
            var counts: [String: Int] = [:]
            for e in p["entries"] as! [[String: Any]] {
                if let key = e["item_key"] as? String { counts[key, default: 0] += 1 }
            }
            if !counts.isEmpty { m[id] = counts }
        }
        return m
    }

    func sqlite(_ sql: String) throws -> String { try sqlite3CLI(statePath, sql) }
}

/// `sqlite3 PATH SQL`'s output, trimmed: the database as an operator's shell sees it.
func sqlite3CLI(_ path: String, _ sql: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    p.arguments = [path, sql]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

// MARK: S3 sink

extension Harness {
    /// Replaces the local [sink] table the harness writes with an S3 one: `bucket` under the
    /// prefix "spotify/" at `endpoint` (path-style, us-east-1), followed by `extra`, more keys
    /// of the same table (one a line).
    func useS3Sink(bucket: String, endpoint: String, extra: String = "") throws {
        var toml = try String(contentsOf: configURL, encoding: .utf8)
        let start = toml.range(of: "[sink]")!, end = toml.range(of: "[control]")!
        toml.replaceSubrange(start.lowerBound..<end.lowerBound, with: "")
        toml += """

        [sink]
        kind = "s3"
        bucket = "\(bucket)"
        prefix = "spotify/"
        region = "us-east-1"
        endpoint = "\(endpoint)"
        path_style = true

        """ + extra
        try toml.write(to: configURL, atomically: true, encoding: .utf8)
    }

    /// `environment` with these static AWS credentials and neither of the chain's other
    /// sources (no instance metadata service, no shared credentials file).
    func environment(awsAccessKey key: String, secret: String) -> [String: String] {
        var e = environment
        e["AWS_ACCESS_KEY_ID"] = key
        e["AWS_SECRET_ACCESS_KEY"] = secret
        e["AWS_EC2_METADATA_DISABLED"] = "true"
        e["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
        return e
    }
}
