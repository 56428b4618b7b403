import ETLCore
import ETLHTTP
import FoundationEssentials
import Glibc
import Synchronization

/// Hands out credentials for signing. Implementations cache and refresh; `invalidate()` is
/// called when S3 rejected the credentials (403 ExpiredToken, InvalidAccessKeyId), so the
/// next call fetches fresh ones.
public protocol AWSCredentialsProvider: Sendable {
    func credentials() throws -> AWSCredentials
    func invalidate()
}

/// Fixed credentials (tests, tools).
public struct StaticCredentialsProvider: AWSCredentialsProvider {
    public let value: AWSCredentials
    public init(_ value: AWSCredentials) { self.value = value }
    public func credentials() throws -> AWSCredentials { value }
    public func invalidate() {}
}

/// No source in the chain produced credentials. The message names every place looked at,
/// never a secret.
public struct CredentialsError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    /// The source may answer on a later try (IMDS unreachable, timing out, 5xx, a garbled
    /// answer); false for what an operator must fix (no source configured, a broken file).
    public var isTransient: Bool
    public init(_ message: String, transient: Bool = false) { self.message = message; self.isTransient = transient }
    public var description: String { "AWS credentials: \(message)" }
}

/// The standard chain, in order:
/// 1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN — files of those names in
///    $CREDENTIALS_DIRECTORY (systemd LoadCredential=) win over environment variables;
/// 2. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), profile
///    settings.profile / AWS_PROFILE / "default";
/// 3. EC2 IMDSv2 (unless AWS_EC2_METADATA_DISABLED=true).
/// Results are cached; temporary ones are refreshed 5 minutes before they expire, and kept
/// until they actually expire when a refresh fails (`CredentialsCache`).
public final class CredentialsChain: AWSCredentialsProvider {
    private let environment: [String: String]
    private let profile: String?
    private let clock: Clock
    /// Held while resolving, so concurrent callers wait for one lookup instead of each
    /// making their own.
    private let cached = Guarded(CredentialsCache())
    /// Sends nothing until the chain reaches it.
    private let imds: IMDSCredentialsProvider

    /// Refresh this long before Expiration.
    public static let refreshMargin: TimeInterval = 300

    /// - Parameter imdsSleeper: the pause between IMDS attempts within one refresh (tests).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, profile: String? = nil,
                transport: HTTPTransport = CurlHTTPClient(), clock: Clock = SystemClock(),
                imdsSleeper: @escaping @Sendable (Double) -> Void = sleepSeconds) {
        self.environment = environment
        self.profile = profile
        self.clock = clock
        self.imds = IMDSCredentialsProvider(environment: environment, transport: transport, clock: clock, sleeper: imdsSleeper)
    }

    public func credentials() throws -> AWSCredentials {
        try cached.withLock { cache in
            try cache.get(now: clock.now(), refreshMargin: Self.refreshMargin) { try resolve() }
        }
    }

    public func invalidate() {
        cached.withLock { $0.invalidate() }
        imds.invalidate()
    }

    static func needsRefresh(_ c: AWSCredentials, now: Date) -> Bool {
        CredentialsCache.needsRefresh(c, now: now, margin: refreshMargin)
    }

    private func resolve() throws -> AWSCredentials {
        if let c = try CredentialsChain.fromEnvironmentOrDirectory(environment) { return c }
        if let c = try CredentialsChain.fromSharedFile(environment, profile: profile) { return c }
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" {
            throw CredentialsError("none found: not in $CREDENTIALS_DIRECTORY or the environment, not in the shared credentials file, and IMDS is disabled (AWS_EC2_METADATA_DISABLED=true)")
        }
        do {
            return try imds.credentials()
        } catch let e as CredentialsError {
            throw CredentialsError("none found in $CREDENTIALS_DIRECTORY, the environment or the shared credentials file; IMDS: \(e.message)",
                                   transient: e.isTransient)
        }
    }

    /// Source 1. A file in $CREDENTIALS_DIRECTORY wins over the variable of the same name.
    static func fromEnvironmentOrDirectory(_ env: [String: String]) throws -> AWSCredentials? {
        var fromDir = false
        func value(_ name: String) -> String? {
            if let dir = env["CREDENTIALS_DIRECTORY"], !dir.isEmpty,
               let data = FileManager.default.contents(atPath: dir + "/" + name) {
                let s = String(decoding: data, as: UTF8.self).trimmingWhitespaceAndNewlines()
                if !s.isEmpty { fromDir = true; return s }
            }
            if let v = env[name]?.trimmingWhitespaceAndNewlines(), !v.isEmpty { return v }
            return nil
        }
        let id = value("AWS_ACCESS_KEY_ID"), secret = value("AWS_SECRET_ACCESS_KEY"), token = value("AWS_SESSION_TOKEN")
        switch (id, secret) {
        case (nil, nil): return nil
        case let (id?, secret?):
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token,
                                  source: fromDir ? "credentials-directory" : "environment")
        default:
            throw CredentialsError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (only one was found in $CREDENTIALS_DIRECTORY/environment)")
        }
    }

    /// Source 2: INI file, `[profile]` sections with aws_access_key_id, aws_secret_access_key,
    /// aws_session_token. A missing file is not an error; a profile missing from an existing
    /// file that was explicitly asked for is.
    /// The user's home from the password database, for a `~/` path when `$HOME` is unset.
    static func homeDirectory() -> String {
        guard let pw = getpwuid(getuid()), let dir = pw.pointee.pw_dir else { return "/" }
        return String(cString: dir)
    }

    static func fromSharedFile(_ env: [String: String], profile: String?) throws -> AWSCredentials? {
        let path: String
        if let p = env["AWS_SHARED_CREDENTIALS_FILE"], !p.isEmpty {
            path = p.hasPrefix("~/") ? (env["HOME"] ?? Self.homeDirectory()) + String(p.dropFirst(1)) : p
        } else {
            guard let home = env["HOME"], !home.isEmpty else { return nil }
            path = home + "/.aws/credentials"
        }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let explicit = profile ?? env["AWS_PROFILE"]
        let name = explicit ?? "default"
        let sections = parseINI(String(decoding: data, as: UTF8.self))
        guard let sec = sections[name] else {
            if explicit != nil { throw CredentialsError("profile \"\(name)\" not found in \(path)") }
            return nil
        }
        guard let id = sec["aws_access_key_id"], let secret = sec["aws_secret_access_key"], !id.isEmpty, !secret.isEmpty else {
            throw CredentialsError("profile \"\(name)\" in \(path) lacks aws_access_key_id or aws_secret_access_key")
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: sec["aws_session_token"],
                              source: "shared-file:\(name)")
    }

    static func parseINI(_ text: String) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                var n = String(line.dropFirst().dropLast()).trimmingWhitespace()
                if n.hasPrefix("profile ") { n = String(n.dropFirst(8)).trimmingWhitespace() }
                current = n
                if out[n] == nil { out[n] = [:] }
                continue
            }
            guard let c = current, let eq = line.firstIndex(of: "=") else { continue }
            let k = line[..<eq].trimmingWhitespace().lowercased()
            let v = line[line.index(after: eq)...].trimmingWhitespace()
            out[c]![k] = v
        }
        return out
    }
}
