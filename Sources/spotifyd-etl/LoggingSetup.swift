import Logging

enum LoggingSetup {
    /// Chooses the log backend once per process (journald when stderr is the journal,
    /// readable stderr lines otherwise).
    static func bootstrap(level: Logger.Level = .info) -> Logger {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        return Logger(label: "spotifyd-etl")
    }
}
