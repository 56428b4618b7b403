import ArgumentParser
import ETLConfig

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate the config file: prints `ok`, or the problem and exits 78.")

    @OptionGroup var options: ConfigOption

    func run() throws {
        _ = try options.load()
        Console.out("ok")
    }
}
