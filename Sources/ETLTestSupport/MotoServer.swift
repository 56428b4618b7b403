import ETLHTTP
import Foundation

/// A real moto S3/IAM server on loopback with signature checking on, launched from
/// scripts/testsupport/moto_server.py. The wrapper creates the buckets and an IAM user with
/// an access key before it enables auth and writes its port file.
public final class MotoServer: Sendable {
    public let endpoint: String
    public let port: Int
    /// The IAM user's first access key, as moto created it at launch.
    public let accessKey: String
    public let secretKey: String
    private let process: Process
    private let workDir: URL
    private let http: CurlHTTPClient

    public struct LaunchError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public init(buckets: [String], timeout: TimeInterval = 90) throws {
        workDir = FileManager.default.temporaryDirectory.appendingPathComponent("moto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        let portFile = workDir.appendingPathComponent("port")
        let log = workDir.appendingPathComponent("moto.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestSupport.packageRoot + "/scripts/testsupport/moto_server.py",
                             "--port", "0", "--port-file", portFile.path] + buckets.flatMap { ["--bucket", $0] }
        let logHandle = try FileHandle(forWritingTo: log)
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        let port = TestSupport.waitForPort(in: portFile, of: process, until: Date().addingTimeInterval(timeout),
                                           interval: 0.1) ?? 0
        guard port > 0 else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw LaunchError(description: "moto did not start: \(text.suffix(2000))")
        }
        self.port = port
        endpoint = "http://127.0.0.1:\(port)"
        let http = CurlHTTPClient()
        self.http = http
        let st = try Self.control(http, endpoint, "GET", "/_ts/state")
        accessKey = st["access_key"] ?? ""
        secretKey = st["secret_key"] ?? ""
    }

    private func control(_ method: String, _ path: String) throws -> [String: String] {
        try Self.control(http, endpoint, method, path)
    }

    private static func control(_ http: CurlHTTPClient, _ endpoint: String, _ method: String, _ path: String) throws -> [String: String] {
        let resp = try http.send(HTTPRequest(method: method, url: endpoint + path, body: method == "POST" ? Data() : nil, timeout: 30))
        guard resp.status == 200, let obj = try JSONSerialization.jsonObject(with: resp.body) as? [String: Any] else {
            throw LaunchError(description: "moto control \(path) answered \(resp.status): \(String(decoding: resp.body, as: UTF8.self))")
        }
        return obj.compactMapValues { $0 as? String }
    }

    /// A new access key for the same IAM user (for rotation tests).
    public func createAccessKey() throws -> (accessKey: String, secretKey: String) {
        let r = try control("POST", "/_ts/keys/create")
        return (r["access_key"] ?? "", r["secret_key"] ?? "")
    }

    public func deleteAccessKey(_ id: String) throws {
        _ = try control("POST", "/_ts/keys/delete?id=\(URLEncoding.encode(id))")
    }

    public func stop() {
        TestSupport.terminate(process)
        try? FileManager.default.removeItem(at: workDir)
    }

    deinit { stop() }
}
