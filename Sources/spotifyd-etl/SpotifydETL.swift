import ArgumentParser
import ETLCore

/// The `spotifyd-etl` command. Each subcommand lives in its own file and only wires parts
/// from the library modules together.
@main
struct SpotifydETL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spotifyd-etl",
        abstract: "Keeps a data warehouse in step with Spotify playlists.",
        version: ETLVersion.string,
        subcommands: [Run.self, CheckConfig.self, Status.self, Poll.self, Flush.self, Login.self])
}
