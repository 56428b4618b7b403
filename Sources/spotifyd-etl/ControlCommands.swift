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
            Console.error("spotifyd-etl: \(response.error ?? "request failed")")
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.failure)
        }
        return response
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the running daemon's state at a glance.")
    @OptionGroup var socket: SocketOption
    @Flag(help: "Stable JSON instead of the table.")
    var json = false

    func run() throws {
        let r = try socket.send(ControlRequest(cmd: .status))
        guard let status = r.status else {
            Console.error("spotifyd-etl: the daemon sent no status")
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.failure)
        }
        Console.out(json ? status.jsonLine() : status.renderTable())
    }
}

struct Poll: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make playlists due now (all when none are named).")
    @OptionGroup var socket: SocketOption
    @Argument(help: "Playlist ids.")
    var playlists: [String] = []

    func run() throws {
        let r = try socket.send(ControlRequest(cmd: .poll, playlists: playlists.isEmpty ? nil : playlists))
        Console.out(r.message ?? "ok")
    }
}

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Seal and upload everything now, and wait for the result.")
    @OptionGroup var socket: SocketOption

    func run() throws {
        let r = try socket.send(ControlRequest(cmd: .flush))
        Console.out(r.message ?? "ok")
    }
}
