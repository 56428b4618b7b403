import ArgumentParser
import ETLConfig
import ETLCore
import ETLDaemon
import ETLExtraction
import ETLHTTP
import ETLState
import FoundationEssentials

struct Login: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Authorize with Spotify (authorization code + PKCE) and store the refresh token.",
        discussion: """
        Add http://127.0.0.1:PORT/callback as a redirect URI of your Spotify app, run this, and \
        open the printed URL. The refresh token is stored in the state DB (or printed with \
        --print, for LoadCredential=). Spotify refresh tokens expire six months after \
        authorization: when the daemon reports invalid_grant, run this again.
        """)

    @OptionGroup var options: ConfigOption

    @Option(help: "Local port for the OAuth callback.")
    var port: UInt16 = 8888

    @Flag(help: "Print the refresh token instead of storing it in the state DB.")
    var print = false

    @Option(help: "Seconds to wait for the browser.")
    var timeout: Double = 300

    func run() throws {
        let config = try options.load()
        let secrets = Secrets.load()
        guard let id = secrets.clientID, let secret = secrets.clientSecret else {
            Console.error("\(config.sourcePath): \(Secrets.clientIDName): missing: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET (environment or $CREDENTIALS_DIRECTORY)")
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.config)
        }
        let flow = LoginFlow(credentials: SpotifyCredentials(clientID: id, clientSecret: secret),
                             accountsURL: config.spotify.accountsURL, transport: CurlHTTPClient(), port: port)
        let token: String
        do {
            token = try flow.run(waitSeconds: timeout) { Console.out($0) }
        } catch {
            Console.error("login failed: \(error)")
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.failure)
        }
        if print {
            Console.out(token)
            return
        }
        let dir = URL(fileURLWithPath: config.state.path).deletingLastPathComponent().path
        do {
            try PrivateStateFiles.prepare(directory: dir, databasePath: config.state.path)
        } catch {
            Console.error("\(config.sourcePath): state.path: cannot prepare the state database: \(error)")
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.failure)
        }
        let state = try StateStore(path: config.state.path)
        // A new chain: it descends from no operator-supplied token (see RefreshTokenLineage).
        try state.set([(key: RefreshTokenKeeper.tokenKey, value: token), (key: RefreshTokenKeeper.originKey, value: nil)])
        Console.out("refresh token stored in \(config.state.path); set spotify.auth = \"refresh_token\" to use it")
    }
}
