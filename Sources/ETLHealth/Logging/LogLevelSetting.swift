import ETLCore
import Logging

/// The daemon's log level: `run --log-level LEVEL`, else `SPOTIFYD_ETL_LOG_LEVEL`, else info.
/// The flag wins (an operator can override a bad environment value from the command line).
/// A bad flag value is a usage error (exit 64, from the argument parser); a bad environment
/// value is a configuration error (exit 78, so systemd's `RestartPreventExitStatus=78` stops
/// a restart loop), its message naming the accepted values.
public enum LogLevelSetting {
    public static let environmentVariable = "SPOTIFYD_ETL_LOG_LEVEL"
    public static let defaultLevel: Logger.Level = .info
    /// Accepted values, lowest first (swift-log's trace and critical are not offered).
    public static let accepted: [Logger.Level] = [.debug, .info, .notice, .warning, .error]
    public static var acceptedList: String { accepted.map(\.rawValue).joined(separator: ", ") }

    public struct InvalidValue: Error, Equatable, CustomStringConvertible {
        public let value: String
        public let source: String
        public var description: String {
            "\(source): invalid log level \"\(value)\"; accepted: \(LogLevelSetting.acceptedList)"
        }
    }

    /// `debug`…`error`, case-insensitive, surrounding blanks ignored; nil otherwise.
    public static func parse(_ text: String) -> Logger.Level? {
        let s = text.trimmingWhitespaceAndNewlines().lowercased()
        return accepted.first { $0.rawValue == s }
    }

    /// The level to run at. An empty environment value counts as unset.
    public static func resolve(flag: Logger.Level?, environment: [String: String]) throws(InvalidValue) -> Logger.Level {
        if let flag { return flag }
        guard let raw = environment[environmentVariable], !raw.isEmpty else { return defaultLevel }
        guard let level = parse(raw) else { throw InvalidValue(value: raw, source: environmentVariable) }
        return level
    }
}
