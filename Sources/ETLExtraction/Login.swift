import Crypto
import ETLCore
import ETLHTTP
import FoundationEssentials
import ETLTransform
import Glibc

/// PKCE (RFC 7636) verifier and S256 challenge.
public struct PKCE: Sendable, Equatable {
    public let verifier: String
    public let challenge: String

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// A random verifier of `length` (43…128) unreserved characters and its challenge.
    public static func generate(length: Int = 64) -> PKCE {
        let n = min(max(length, 43), 128)
        var rng = SystemRandomNumberGenerator()
        let verifier = String((0..<n).map { _ in alphabet[Int(rng.next(upperBound: UInt32(alphabet.count)))] })
        return PKCE(verifier: verifier, challenge: challenge(for: verifier))
    }

    /// BASE64URL(SHA256(ASCII(verifier))) without padding.
    public static func challenge(for verifier: String) -> String {
        base64URL(Data(SHA256.hash(data: Data(verifier.utf8))))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacing("+", with: "-").replacing("/", with: "_")
            .replacing("=", with: "")
    }

    /// A random URL-safe `state` value (32 bytes of entropy) against login CSRF.
    public static func randomState() -> String {
        var rng = SystemRandomNumberGenerator()
        return base64URL(Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }))
    }
}

public enum LoginError: Error, Sendable, Equatable, CustomStringConvertible {
    case listenFailed(port: UInt16, reason: String)
    /// No callback with the expected `state` arrived in time; `ignored` callbacks carried
    /// another state (a forged request or a stale browser tab) and were answered 400.
    case timedOut(seconds: Int, ignored: Int)
    case denied(String)
    case missingCode
    case exchangeFailed(String)

    public var description: String {
        switch self {
        case .listenFailed(let port, let reason):
            return "cannot listen on 127.0.0.1:\(port) for the login callback: \(reason)"
        case .timedOut(let s, let ignored):
            let note = ignored == 0 ? "" : " (\(ignored) callback\(ignored == 1 ? "" : "s") with a wrong state parameter ignored: a stale browser tab or a forged request)"
            return "no login callback arrived within \(s) s\(note)"
        case .denied(let e): return "Spotify authorization was not granted: \(e)"
        case .missingCode: return "login callback carried no authorization code"
        case .exchangeFailed(let m): return "exchanging the authorization code failed: \(m)"
        }
    }
}

/// The one-time `spotifyd-etl login`: Authorization Code with PKCE against the accounts
/// service, a loopback redirect, and the refresh token as result (the CLI stores or prints it).
/// Scopes are read-only: the daemon never writes to Spotify.
public final class LoginFlow: Sendable {
    public static let defaultScopes = ["playlist-read-private", "playlist-read-collaborative"]

    private let credentials: SpotifyCredentials
    private let accountsURL: String
    private let transport: HTTPTransport
    private let port: UInt16
    private let scopes: [String]
    private let timeout: Double

    /// - Parameter port: the loopback port registered in the app's redirect URI
    ///   (`http://127.0.0.1:PORT/callback`); 0 binds an ephemeral one (tests).
    public init(credentials: SpotifyCredentials, accountsURL: String, transport: HTTPTransport, port: UInt16 = 8888,
                scopes: [String] = LoginFlow.defaultScopes, timeout: Double = 30)
    {
        self.credentials = credentials
        self.accountsURL = TokenProvider.trimSlash(accountsURL)
        self.transport = transport
        self.port = port
        self.scopes = scopes
        self.timeout = timeout
    }

    /// Binds the callback listener and prepares the authorize URL. Bind first, so the URL is
    /// never shown for a redirect nobody listens on.
    public func start() throws -> LoginSession {
        let listener = try CallbackListener(port: port)
        return LoginSession(listener: listener, credentials: credentials, accountsURL: accountsURL, transport: transport,
                            scopes: scopes, timeout: timeout, pkce: PKCE.generate(), state: PKCE.randomState())
    }

    /// Whole flow: prints the URL via `output`, waits for the browser, returns the refresh token.
    public func run(waitSeconds: Double = 300, output: (String) -> Void) throws -> String {
        let session = try start()
        output("Open this URL in a browser and approve access:\n\n  \(session.authorizeURL)\n\n"
            + "Waiting for the redirect to \(session.redirectURI) …")
        return try session.complete(waitSeconds: waitSeconds)
    }
}

/// One pending login: listener bound, PKCE and state chosen.
public final class LoginSession: Sendable {
    public let redirectURI: String
    public let authorizeURL: String
    private let listener: CallbackListener
    private let credentials: SpotifyCredentials
    private let tokenURL: String
    private let transport: HTTPTransport
    private let timeout: Double
    private let pkce: PKCE
    private let state: String

    init(listener: CallbackListener, credentials: SpotifyCredentials, accountsURL: String, transport: HTTPTransport,
         scopes: [String], timeout: Double, pkce: PKCE, state: String)
    {
        self.listener = listener
        self.credentials = credentials
        self.tokenURL = accountsURL + "/api/token"
        self.transport = transport
        self.timeout = timeout
        self.pkce = pkce
        self.state = state
        self.redirectURI = "http://127.0.0.1:\(listener.port)\(listener.path)"
        let query: [(String, String)] = [
            ("client_id", credentials.clientID), ("response_type", "code"), ("redirect_uri", redirectURI),
            ("code_challenge_method", "S256"), ("code_challenge", pkce.challenge),
            ("scope", scopes.joined(separator: " ")), ("state", state),
        ]
        self.authorizeURL = accountsURL + "/authorize?" + URLEncoding.form(query)
    }

    /// Waits for the redirect, exchanges the code and returns the refresh token. Only a
    /// callback carrying this session's `state` counts: any other (login CSRF, or a tab left
    /// from an earlier attempt) is answered with a 400 page, its code is never exchanged, and
    /// the wait goes on until `waitSeconds` have passed.
    public func complete(waitSeconds: Double = 300) throws -> String {
        defer { listener.close() }
        let expected = state
        let params = try listener.waitForCallback(timeout: waitSeconds) { p in
            guard p["state"] == expected else {
                return .ignore(status: 400, html: page("Not this login", "The state parameter does not match the login that is waiting; this request was ignored."))
            }
            if let e = p["error"] { return .finish(status: 400, html: page("Login failed", "Spotify said: \(e)")) }
            if p["code"]?.isEmpty ?? true { return .finish(status: 400, html: page("Login failed", "No authorization code in the redirect.")) }
            return .finish(status: 200, html: page("Login complete", "spotifyd-etl received the authorization. You can close this tab."))
        }
        if let e = params["error"] { throw LoginError.denied(Redaction.redact(e)) }
        guard let code = params["code"], !code.isEmpty else { throw LoginError.missingCode }
        return try exchange(code: code)
    }

    private func exchange(code: String) throws -> String {
        let form = URLEncoding.form([
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
            ("code_verifier", pkce.verifier),
        ])
        let request = HTTPRequest(method: "POST", url: tokenURL, headers: [
            ("Authorization", TokenProvider.basicAuth(credentials.clientID, credentials.clientSecret)),
            ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
        ], body: Data(form.utf8), timeout: timeout, maxBodyBytes: BodyLimit.token)
        let secrets = credentials.secrets + [code, pkce.verifier]
        let response: HTTPResponse
        do {
            response = try transport.send(request)
        } catch {
            throw LoginError.exchangeFailed(Redaction.redact("\(error)", secrets: secrets))
        }
        guard (200..<300).contains(response.status) else {
            let api = APIErrorBody.parse(response.body, status: response.status)
            let code = api.code.map { " (\($0))" } ?? ""
            throw LoginError.exchangeFailed("HTTP \(response.status)\(code): \(Redaction.redact(api.message, secrets: secrets))")
        }
        guard let obj = try? JSONParser.parse(Array(response.body)), obj.objectValue != nil else {
            throw LoginError.exchangeFailed("token response is not a JSON object")
        }
        guard let refresh = obj["refresh_token"]?.stringValue, !refresh.isEmpty else {
            throw LoginError.exchangeFailed("token response carries no refresh_token")
        }
        return refresh
    }
}
