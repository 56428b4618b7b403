import ArgumentParser
import ETLConfig
import ETLCore
import FoundationEssentials

/// `--config PATH`, shared by every subcommand that reads the config.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Config file (TOML).")
    var config: String = AppConfig.defaultPath

    /// Loads and validates, or prints the one-line reason and exits 78 (EX_CONFIG).
    func load() throws -> AppConfig { try Self.load(path: config) }

    static func load(path: String) throws -> AppConfig {
        do {
            return try ConfigLoader.load(path: path)
        } catch {
            Console.error(error.description)
            throw ArgumentParser.ExitCode(ETLCore.ExitCode.config)
        }
    }
}

/// stderr/stdout writes that are flushed at once: under systemd stdout is block-buffered.
enum Console {
    static func out(_ line: String) {
        StandardStreams.out(line + "\n")
    }
    static func error(_ line: String) {
        StandardStreams.err(line + "\n")
    }
}
