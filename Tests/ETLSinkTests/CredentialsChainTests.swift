import ETLCore
import ETLHTTP
import ETLTestSupport
import Foundation
import Synchronization
import XCTest

@testable import ETLSink

/// A clock the test moves by hand.
final class FixedClock: Clock {
    private let current: Guarded<Date>
    init(_ d: Date) { current = Guarded(d) }
    func now() -> Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// The credentials chain with an injected environment, real files and a real IMDS emulator.
final class CredentialsChainTests: XCTestCase {
    func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: u) }
        return u
    }

    /// A transport that must never be used: proves a source was answered without IMDS.
    final class NoNetwork: HTTPTransport {
        func send(_ request: HTTPRequest) throws -> HTTPResponse { XCTFail("unexpected request to \(request.url)"); return HTTPResponse(status: 599, headers: [], body: Data()) }
    }

    func testEnvironmentVariables() throws {
        let chain = CredentialsChain(environment: ["AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_SESSION_TOKEN": "envtoken",
                                                   "AWS_EC2_METADATA_DISABLED": "true"], transport: NoNetwork())
        let c = try chain.credentials()
        XCTAssertEqual(c.accessKeyID, "AKENV"); XCTAssertEqual(c.secretAccessKey, "envsecret"); XCTAssertEqual(c.sessionToken, "envtoken")
        XCTAssertEqual(c.source, "environment")
    }

    func testCredentialsDirectoryFilesWinOverEnvironment() throws {
        let dir = try tempDir()
        try "AKFILE\n".write(to: dir.appendingPathComponent("AWS_ACCESS_KEY_ID"), atomically: true, encoding: .utf8)
        try "filesecret\n".write(to: dir.appendingPathComponent("AWS_SECRET_ACCESS_KEY"), atomically: true, encoding: .utf8)
        let chain = CredentialsChain(environment: ["CREDENTIALS_DIRECTORY": dir.path, "AWS_ACCESS_KEY_ID": "AKENV",
                                                   "AWS_SECRET_ACCESS_KEY": "envsecret"], transport: NoNetwork())
        let c = try chain.credentials()
        XCTAssertEqual(c.accessKeyID, "AKFILE"); XCTAssertEqual(c.secretAccessKey, "filesecret"); XCTAssertNil(c.sessionToken)
        XCTAssertEqual(c.source, "credentials-directory")
    }

    func testHalfConfiguredEnvironmentIsAnErrorWithoutTheSecret() {
        let chain = CredentialsChain(environment: ["AWS_SECRET_ACCESS_KEY": "lonely-secret-value"], transport: NoNetwork())
        XCTAssertThrowsError(try chain.credentials()) { e in
            XCTAssertTrue(e is CredentialsError)
            XCTAssertFalse("\(e)".contains("lonely-secret-value"))
        }
    }

    func testSharedCredentialsFileProfiles() throws {
        let dir = try tempDir()
        let file = dir.appendingPathComponent("credentials")
        try """
        [default]
        aws_access_key_id = AKDEFAULT
        aws_secret_access_key = defaultsecret

        # comment
        [etl]
        aws_access_key_id=AKETL
        aws_secret_access_key=etlsecret
        aws_session_token=etltoken
        """.write(to: file, atomically: true, encoding: .utf8)
        let base = ["AWS_SHARED_CREDENTIALS_FILE": file.path, "AWS_EC2_METADATA_DISABLED": "true"]
        XCTAssertEqual(try CredentialsChain(environment: base, transport: NoNetwork()).credentials().accessKeyID, "AKDEFAULT")
        var env = base; env["AWS_PROFILE"] = "etl"
        let etl = try CredentialsChain(environment: env, transport: NoNetwork()).credentials()
        XCTAssertEqual(etl.accessKeyID, "AKETL"); XCTAssertEqual(etl.sessionToken, "etltoken"); XCTAssertEqual(etl.source, "shared-file:etl")
        // settings.profile beats AWS_PROFILE.
        XCTAssertEqual(try CredentialsChain(environment: env, profile: "default", transport: NoNetwork()).credentials().accessKeyID, "AKDEFAULT")
        XCTAssertThrowsError(try CredentialsChain(environment: base, profile: "missing", transport: NoNetwork()).credentials()) { e in
            XCTAssertTrue("\(e)".contains("profile \"missing\""))
            XCTAssertFalse("\(e)".contains("defaultsecret"))
        }
        // Environment beats the file.
        var both = base; both["AWS_ACCESS_KEY_ID"] = "AKENV"; both["AWS_SECRET_ACCESS_KEY"] = "s"
        XCTAssertEqual(try CredentialsChain(environment: both, transport: NoNetwork()).credentials().accessKeyID, "AKENV")
        // ~/.aws/credentials via HOME.
        let home = try tempDir()
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: file, to: home.appendingPathComponent(".aws/credentials"))
        XCTAssertEqual(try CredentialsChain(environment: ["HOME": home.path, "AWS_EC2_METADATA_DISABLED": "true"], transport: NoNetwork()).credentials().accessKeyID, "AKDEFAULT")
    }

    func testMetadataDisabledIsHonoured() {
        let chain = CredentialsChain(environment: ["AWS_EC2_METADATA_DISABLED": "true", "HOME": "/nonexistent"], transport: NoNetwork())
        XCTAssertThrowsError(try chain.credentials()) { e in XCTAssertTrue("\(e)".contains("IMDS is disabled")) }
    }

    func testIMDSv2TokenRoleAndCredentialsWithRefreshBeforeExpiration() throws {
        let imds = try IMDSEmulatorProcess(role: "etl-role")
        defer { imds.stop() }
        let clock = FixedClock(Date())
        let f = ISO8601DateFormatter()
        try imds.setCredentials(accessKey: "ASIAONE", secretKey: "imds-secret-one", token: "imds-token-one",
                                expiration: f.string(from: clock.now().addingTimeInterval(3600)))
        let chain = CredentialsChain(environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint, "HOME": "/nonexistent"],
                                     transport: CurlHTTPClient(), clock: clock)
        let c1 = try chain.credentials()
        XCTAssertEqual(c1.accessKeyID, "ASIAONE"); XCTAssertEqual(c1.sessionToken, "imds-token-one"); XCTAssertEqual(c1.source, "imds:etl-role")
        XCTAssertEqual(c1.expiration.map { Int($0.timeIntervalSince1970) }, Int(clock.now().timeIntervalSince1970 + 3600))
        XCTAssertFalse("\(c1)".contains("imds-secret-one"))
        XCTAssertEqual(try chain.credentials().accessKeyID, "ASIAONE")
        var s = try imds.stats()
        XCTAssertEqual(s["credentials"], 1, "cached while far from expiry")
        XCTAssertEqual(s["unauthorized"], 0, "every metadata GET carried the session token")
        // 56 minutes later the credentials expire in 4 minutes (< 5): refresh.
        try imds.setCredentials(accessKey: "ASIATWO", secretKey: "imds-secret-two", token: "imds-token-two",
                                expiration: f.string(from: clock.now().addingTimeInterval(7200)))
        clock.advance(by: 56 * 60)
        XCTAssertEqual(try chain.credentials().accessKeyID, "ASIATWO")
        s = try imds.stats()
        XCTAssertEqual(s["credentials"], 2)
        XCTAssertEqual(s["token"], 1, "the IMDS session token is reused")
    }

    func testIMDSUnreachableGivesClearError() {
        let chain = CredentialsChain(environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1", "HOME": "/nonexistent"])
        XCTAssertThrowsError(try chain.credentials()) { e in XCTAssertTrue("\(e)".contains("IMDS"), "\(e)") }
    }

    /// IMDS serves a moto IAM key; the key is rotated (new key created, old deleted, IMDS
    /// serves the new one); the next put gets 403 InvalidAccessKeyId, refreshes, succeeds.
    func testRotationThroughIMDSRefreshesOn403() throws {
        let moto = try MotoServer(buckets: ["etl-rotation"])
        defer { moto.stop() }
        let imds = try IMDSEmulatorProcess()
        defer { imds.stop() }
        try imds.setCredentials(accessKey: moto.accessKey, secretKey: moto.secretKey)
        let chain = CredentialsChain(environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint, "HOME": "/nonexistent"])
        let settings = S3Settings(bucket: "etl-rotation", prefix: "r/", endpoint: moto.endpoint, pathStyle: true)
        let sink = try S3Sink(settings: settings, credentials: chain, retry: S3RetryPolicy(maxAttempts: 2, baseDelay: 0.001, maxDelay: 0.001, sleeper: { _ in }))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rot-\(UUID().uuidString)")
        try Data("hello".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let obj = SealedObject(key: "dt=2026-11-25/a.gz", fileURL: file, byteCount: 5, contentType: "application/x-ndjson", contentEncoding: nil)
        XCTAssertNoThrow(try sink.put(obj))
        let old = moto.accessKey
        let new = try moto.createAccessKey()
        try moto.deleteAccessKey(old)
        try imds.setCredentials(accessKey: new.accessKey, secretKey: new.secretKey)
        XCTAssertNoThrow(try sink.put(SealedObject(key: "dt=2026-11-25/b.gz", fileURL: file, byteCount: 5, contentType: "application/x-ndjson", contentEncoding: nil)))
        XCTAssertEqual(try chain.credentials().accessKeyID, new.accessKey)
        XCTAssertEqual(try imds.stats()["credentials"], 2)
        XCTAssertEqual(try sink.client.listObjects(prefix: "r/").count, 2)
    }
}
