import ETLHTTP
import Foundation

/// The IMDSv2 emulator (scripts/testsupport/imds_emulator.py) on loopback.
public final class IMDSEmulatorProcess: Sendable {
    public let endpoint: String
    private let process: Process
    private let workDir: URL
    private let http = CurlHTTPClient()

    public init(role: String = "etl-role", timeout: TimeInterval = 30) throws {
        workDir = FileManager.default.temporaryDirectory.appendingPathComponent("imds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        let portFile = workDir.appendingPathComponent("port")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestSupport.packageRoot + "/scripts/testsupport/imds_emulator.py",
                             "--port", "0", "--port-file", portFile.path, "--role", role]
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var port = 0
        while Date() < deadline, process.isRunning {
            if let s = try? String(contentsOf: portFile, encoding: .utf8), let p = Int(s) { port = p; break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard port > 0 else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            throw MotoServer.LaunchError(description: "IMDS emulator did not start")
        }
        endpoint = "http://127.0.0.1:\(port)"
    }

    /// Serve these credentials from now on (rotation). `expiration` is ISO-8601 UTC.
    public func setCredentials(accessKey: String, secretKey: String, token: String? = nil, expiration: String? = nil) throws {
        var obj: [String: Any] = ["access_key": accessKey, "secret_key": secretKey]
        if let token { obj["token"] = token }
        if let expiration { obj["expiration"] = expiration }
        let resp = try http.send(HTTPRequest(method: "POST", url: endpoint + "/_control/credentials",
                                             headers: [("Content-Type", "application/json")],
                                             body: try JSONSerialization.data(withJSONObject: obj)))
        guard resp.status == 200 else { throw MotoServer.LaunchError(description: "IMDS control answered \(resp.status)") }
    }

    /// From now on every metadata request fails this way: "drop" (connection closed without an
    /// answer), "500", "garbage" (200 with an unusable body), "slow" (5 s, past the 2 s timeout);
    /// "off" serves again, with the session tokens handed out before forgotten.
    public func setOutage(_ mode: String) throws {
        let resp = try http.send(HTTPRequest(method: "POST", url: endpoint + "/_control/outage",
                                             headers: [("Content-Type", "application/json")],
                                             body: try JSONSerialization.data(withJSONObject: ["mode": mode])))
        guard resp.status == 200 else { throw MotoServer.LaunchError(description: "IMDS outage control answered \(resp.status)") }
    }

    public func stats() throws -> [String: Int] {
        let resp = try http.send(HTTPRequest(url: endpoint + "/_control/stats"))
        return (try JSONSerialization.jsonObject(with: resp.body) as? [String: Int]) ?? [:]
    }

    public func stop() {
        TestSupport.terminate(process)
        try? FileManager.default.removeItem(at: workDir)
    }

    deinit { stop() }
}
