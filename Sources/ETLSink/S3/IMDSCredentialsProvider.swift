import ETLCore
import ETLHTTP
import FoundationEssentials
import Glibc
import Synchronization

/// EC2 instance-role credentials over IMDSv2: a session token from PUT /latest/api/token,
/// then the role name and the role's credentials JSON. Refreshed 5 minutes before
/// Expiration, or at once after `invalidate()` (S3 said ExpiredToken / the key is gone).
public final class IMDSCredentialsProvider: AWSCredentialsProvider {
    private let endpoint: String
    private let transport: HTTPTransport
    private let clock: Clock
    /// Held for the whole of a fetch, so concurrent callers share one round of requests.
    private let state = Guarded(State())
    static let tokenTTL = 21_600

    private struct State {
        var cached: AWSCredentials?
        var token: (value: String, expires: Date)?
    }

    public init(environment: [String: String], transport: HTTPTransport, clock: Clock = SystemClock()) {
        var ep = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://169.254.169.254"
        while ep.hasSuffix("/") { ep.removeLast() }
        self.endpoint = ep
        self.transport = transport
        self.clock = clock
    }

    public func credentials() throws -> AWSCredentials {
        try state.withLock { state in
            if let c = state.cached, !CredentialsChain.needsRefresh(c, now: clock.now()) { return c }
            let c = try fetch(&state)
            state.cached = c
            return c
        }
    }

    public func invalidate() {
        state.withLock { $0.cached = nil }
    }

    private func fetch(_ state: inout State) throws -> AWSCredentials {
        let tok = try sessionToken(&state)
        let roleResp = try get("/latest/meta-data/iam/security-credentials/", token: tok, &state)
        let role = String(decoding: roleResp, as: UTF8.self).split(whereSeparator: { $0 == "\n" }).first
            .map { $0.trimmingWhitespace() } ?? ""
        guard !role.isEmpty else { throw CredentialsError("IMDS lists no instance role") }
        let body = try get("/latest/meta-data/iam/security-credentials/" + SigV4Signer.uriEncode(role), token: tok, &state)
        guard let obj = try? JSONDecoder().decode(IMDSRoleCredentials.self, from: body) else {
            throw CredentialsError("IMDS credentials for role \"\(role)\" are not the expected JSON")
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
                              headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTL))], body: Data(), timeout: 2)
        let resp: HTTPResponse
        do { resp = try transport.send(req) } catch {
            throw CredentialsError("IMDS at \(endpoint) unreachable (\(error))")
        }
        guard resp.status == 200, !resp.body.isEmpty else { throw CredentialsError("IMDS token request answered HTTP \(resp.status)") }
        let v = String(decoding: resp.body, as: UTF8.self).trimmingWhitespaceAndNewlines()
        state.token = (v, clock.now().addingTimeInterval(TimeInterval(Self.tokenTTL)))
        return v
    }

    private func get(_ path: String, token tok: String, _ state: inout State) throws -> Data {
        let req = HTTPRequest(method: "GET", url: endpoint + path, headers: [("X-aws-ec2-metadata-token", tok)], timeout: 2)
        let resp: HTTPResponse
        do { resp = try transport.send(req) } catch {
            throw CredentialsError("IMDS at \(endpoint) unreachable (\(error))")
        }
        if resp.status == 401 { state.token = nil }
        guard resp.status == 200 else { throw CredentialsError("IMDS \(path) answered HTTP \(resp.status)") }
        return resp.body
    }

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
