import ETLCore
import ETLHTTP
import FoundationEssentials
import Glibc
import Synchronization

/// EC2 instance-role credentials over IMDSv2: a session token from PUT /latest/api/token,
/// then the role name and the role's credentials JSON. Refreshed 5 minutes before
/// Expiration, or at once after `invalidate()` (S3 said ExpiredToken / the key is gone).
///
/// IMDS failures — refused or timed-out connections, 5xx, a 401 for a stale session token, an
/// answer that is not the expected JSON or is larger than `BodyLimit.imds` — are transient:
/// one refresh tries up to `attempts` times with a short pause between, and credentials still
/// valid stay in use until they expire (`CredentialsCache`).
public final class IMDSCredentialsProvider: AWSCredentialsProvider {
    private let endpoint: String
    private let transport: HTTPTransport
    private let clock: Clock
    private let sleeper: @Sendable (Double) -> Void
    /// Held for the whole of a fetch, so concurrent callers share one round of requests.
    private let state = Guarded(State())
    static let tokenTTL = 21_600
    /// Tries per refresh, and the pause after the first failed one (doubling).
    static let attempts = 3
    static let firstPause: Double = 0.2

    private struct State {
        var cache = CredentialsCache()
        var token: (value: String, expires: Date)?
    }

    public init(environment: [String: String], transport: HTTPTransport, clock: Clock = SystemClock(),
                sleeper: @escaping @Sendable (Double) -> Void = sleepSeconds) {
        var ep = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://169.254.169.254"
        while ep.hasSuffix("/") { ep.removeLast() }
        self.endpoint = ep
        self.transport = transport
        self.clock = clock
        self.sleeper = sleeper
    }

    public func credentials() throws -> AWSCredentials {
        try state.withLock { state in
            var cache = state.cache
            defer { state.cache = cache }
            return try cache.get(now: clock.now(), refreshMargin: CredentialsChain.refreshMargin) {
                try fetchRetrying(&state)
            }
        }
    }

    public func invalidate() {
        state.withLock { $0.cache.invalidate() }
    }

    private func fetchRetrying(_ state: inout State) throws -> AWSCredentials {
        var attempt = 1
        while true {
            do {
                return try fetch(&state)
            } catch let e as CredentialsError where e.isTransient && attempt < Self.attempts {
                sleeper(Self.firstPause * Double(1 << (attempt - 1)))
                attempt += 1
            }
        }
    }

    private func fetch(_ state: inout State) throws -> AWSCredentials {
        let tok = try sessionToken(&state)
        let roleResp = try get("/latest/meta-data/iam/security-credentials/", token: tok, &state)
        let role = String(decoding: roleResp, as: UTF8.self).split(whereSeparator: { $0 == "\n" }).first
            .map { $0.trimmingWhitespace() } ?? ""
        guard !role.isEmpty else { throw CredentialsError("IMDS lists no instance role") }
        let body = try get("/latest/meta-data/iam/security-credentials/" + SigV4Signer.uriEncode(role), token: tok, &state)
        guard let obj = try? JSONDecoder().decode(IMDSRoleCredentials.self, from: body),
              !obj.AccessKeyId.isEmpty, !obj.SecretAccessKey.isEmpty else {
            throw CredentialsError("IMDS credentials for role \"\(role)\" are not the expected JSON", transient: true)
        }
        let id = obj.AccessKeyId, secret = obj.SecretAccessKey
        let exp = obj.Expiration.flatMap { Self.parseISO($0) }
        let token = obj.Token.flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token,
                              expiration: exp, source: "imds:\(role)")
    }

    private func sessionToken(_ state: inout State) throws -> String {
        if let t = state.token, t.expires.timeIntervalSince(clock.now()) > 60 { return t.value }
        let req = HTTPRequest(method: "PUT", url: endpoint + "/latest/api/token",
                              headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTL))], body: Data(), timeout: 2,
                              maxBodyBytes: BodyLimit.imds)
        let resp = try send(req)
        guard resp.status == 200, !resp.body.isEmpty else {
            throw CredentialsError("IMDS token request answered HTTP \(resp.status)", transient: Self.isTransient(resp.status))
        }
        let v = String(decoding: resp.body, as: UTF8.self).trimmingWhitespaceAndNewlines()
        state.token = (v, clock.now().addingTimeInterval(TimeInterval(Self.tokenTTL)))
        return v
    }

    private func get(_ path: String, token tok: String, _ state: inout State) throws -> Data {
        let req = HTTPRequest(method: "GET", url: endpoint + path, headers: [("X-aws-ec2-metadata-token", tok)], timeout: 2,
                              maxBodyBytes: BodyLimit.imds)
        let resp = try send(req)
        // A 401 means the session token is gone (IMDS restarted): the next attempt gets a new one.
        if resp.status == 401 { state.token = nil }
        guard resp.status == 200 else {
            throw CredentialsError("IMDS \(path) answered HTTP \(resp.status)", transient: resp.status == 401 || Self.isTransient(resp.status))
        }
        return resp.body
    }

    private func send(_ req: HTTPRequest) throws -> HTTPResponse {
        do { return try transport.send(req) } catch {
            throw CredentialsError("IMDS at \(endpoint) unreachable or unusable (\(error))", transient: true)
        }
    }

    /// 5xx and 429 may pass; other 4xx (IMDS disabled, no such path) need an operator.
    static func isTransient(_ status: Int) -> Bool { status >= 500 || status == 429 }

    static func parseISO(_ s: String) -> Date? {
        Timestamp.parse(s).map { Date(timeIntervalSince1970: Double($0)) }
    }
}

/// The IMDS role-credentials document (only the fields we read).
private struct IMDSRoleCredentials: Decodable {
    var AccessKeyId: String
    var SecretAccessKey: String
    var Token: String?
    var Expiration: String?
}
