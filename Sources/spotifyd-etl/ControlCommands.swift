import ArgumentParser
import ETLConfig
import ETLCore
import ETLHealth
import FoundationEssentials

/// `--socket PATH`, or `--config PATH` to read `[control] socket` from the config.
struct SocketOption: ParsableArguments {
    @Option(help: "Control socket path.")
    var socket: String?

    @Option(help: "Read the control socket path from this config file.")
    var config: String?

    func path() throws -> String {
        if let socket { return socket }
        if let config { return try ConfigOption.load(path: config).control.socket }
        if let c = try? ConfigLoader.load(path: AppConfig.defaultPath) { return c.control.socket }
        return AppConfig.Control().socket
    }

    /// Sends one request; exits 1 with a clear message when the daemon is not running or refuses.
    func send(_ request: ControlRequest) throws -> ControlResponse {
        let path = try path()
        let response: ControlResponse
        do {
            response = try ControlClient.send(request, socketPath: path, timeout: request.cmd == .flush ? 600 : 10)
        } catch {
            Console.error("\(error)")
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.failure)
        }
        guard response.ok else {
            Console.error("spotifyd-etl: \(LogText.escaped(response.error ?? "request failed"))")
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.failure)
        }
        return response
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the running daemon's state at a glance.",
        discussion: """
        Exit codes follow `systemctl status`: 0 running and healthy; 1 running but degraded \
        (uploads failing, watchdog not healthy, a state storage error, an expired refresh token, \
        parked on the Spotify quota, or an outbox older than 2 × max_age plus the retry cadence), \
        with the reason on the first line; 3 no daemon answers on the control socket (not running); \
        4 status unknown (permission denied on the socket, no answer in time, or an answer cut short).
        """)
    @OptionGroup var socket: SocketOption
    @Flag(help: "Stable JSON instead of the table.")
    var json = false

    /// `systemctl status`'s "program is not running".
    static let notRunning: Int32 = 3
    /// LSB's "program or service status is unknown": refused (not in the group) or no answer.
    static let unknown: Int32 = 4

    func run() throws {
        let path = try socket.path()
        let r: ControlResponse
        do {
            r = try ControlClient.send(ControlRequest(cmd: .status), socketPath: path, timeout: 10)
        } catch let e as ControlClient.ClientError {
            Console.error("\(e)")
            switch e {
            case .notRunning: throw ArgumentParser.ExitCode(Self.notRunning)
            // The daemon may be running, but this user cannot ask it, or it did not answer.
            case .permissionDenied, .timedOut, .io: throw ArgumentParser.ExitCode(Self.unknown)
            }
        }
        guard r.ok, let status = r.status else {
            Console.error("spotifyd-etl: \(LogText.escaped(r.error ?? "the daemon sent no status"))")
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.failure)
        }
        Console.out(json ? status.jsonLine() : status.renderTable())
        if !status.effectiveHealth.isHealthy { throw ArgumentParser.ExitCode(ETLCore.ExitCode.failure) }
    }
}

struct Poll: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make playlists due now (all when none are named).")
    @OptionGroup var socket: SocketOption
    @Argument(help: "Playlist ids.")
    var playlists: [String] = []

    func run() throws {
        let r = try socket.send(ControlRequest(cmd: .poll, playlists: playlists.isEmpty ? nil : playlists))
        Console.out(LogText.escaped(r.message ?? "ok"))
    }
}

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Seal and upload everything now, and wait for the result.")
    @OptionGroup var socket: SocketOption

    func run() throws {
        let r = try socket.send(ControlRequest(cmd: .flush))
        Console.out(LogText.escaped(r.message ?? "ok"))
    }
}
