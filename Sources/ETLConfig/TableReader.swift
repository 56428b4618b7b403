import FoundationEssentials
import ETLCore
import TOMLKit

/// Reads one TOML table with a fixed set of allowed keys, so every error names the dotted key
/// (`sink.max_bytes`, `playlists[2].interval`) and a typo is caught as "unknown key" instead of
/// being silently ignored. Values are never echoed unquoted: `ConfigText.quote` keeps the
/// message on one line.
struct TableReader {
    let table: TOMLTable
    /// Dotted path of this table, "" for the root.
    let path: String
    let file: String

    init(_ table: TOMLTable, path: String, file: String, allowed: [String]) throws(ConfigError) {
        self.table = table
        self.path = path
        self.file = file
        for key in table.keys.sorted() where !allowed.contains(key) {
            throw ConfigError(file: file, key: keyPath(key), message: ConfigText.unknownKeyMessage(key, allowed: allowed))
        }
    }

    func keyPath(_ key: String) -> String { ConfigText.join(path, key) }

    func error(_ key: String, _ message: String, violation: ConfigViolation? = nil) -> ConfigError {
        ConfigError(file: file, key: keyPath(key), message: message, violation: violation)
    }

    /// An error about element `index` of the array at `key`: `spotify.additional_types[1]`.
    func elementError(_ key: String, _ index: Int, _ message: String) -> ConfigError {
        ConfigError(file: file, key: keyPath(key) + "[\(index)]", message: message)
    }

    func value(_ key: String) -> TOMLValue? { table[key]?.tomlValue }

    func typeError(_ key: String, expected: String, got: TOMLValue) -> ConfigError {
        error(key, "expected \(expected), got \(ConfigText.article(got.type.description))")
    }

    func string(_ key: String) throws(ConfigError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else { throw typeError(key, expected: "a string", got: v) }
        return s
    }

    func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.bool else { throw typeError(key, expected: "true or false", got: v) }
        return b
    }

    func int(_ key: String) throws(ConfigError) -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.int else { throw typeError(key, expected: "an integer", got: v) }
        return i
    }

    /// Integers are accepted where a number is expected: `jitter = 0` is an integer in TOML.
    func number(_ key: String) throws(ConfigError) -> Double? {
        guard let v = value(key) else { return nil }
        if let d = v.double { return d }
        if let i = v.int { return Double(i) }
        throw typeError(key, expected: "a number", got: v)
    }

    func table(_ key: String) throws(ConfigError) -> TOMLTable? {
        guard let v = value(key) else { return nil }
        guard let t = v.table else { throw typeError(key, expected: "a table", got: v) }
        return t
    }

    func array(_ key: String) throws(ConfigError) -> TOMLArray? {
        guard let v = value(key) else { return nil }
        guard let a = v.array else { throw typeError(key, expected: "an array", got: v) }
        return a
    }

    /// A duration string such as "15m", "90s", "1h30m", "500ms", at least `minimum` seconds
    /// and at most `ConfigBounds.durationMaximum`. Bare numbers are rejected on purpose:
    /// `interval = 60` would be ambiguous between seconds and milliseconds. Every duration key
    /// passes its documented minimum (`ConfigBounds`), so none can reach a "0 means off" path.
    func duration(_ key: String, minimum: Double) throws(ConfigError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else {
            throw typeError(key, expected: "a duration string such as \"15m\" or \"90s\"", got: v)
        }
        guard let seconds = Units.parseDuration(s), seconds.isFinite else {
            throw error(key, "bad duration \(ConfigText.quote(s)): use a positive number with units ms, s, m, h or d, e.g. \"90s\", \"15m\", \"1h30m\"")
        }
        guard seconds >= minimum else {
            throw error(key, "duration \(ConfigText.quote(s)) is below the minimum of \(ConfigText.seconds(minimum))",
                        violation: .durationBelowMinimum(minimum: minimum))
        }
        guard seconds <= ConfigBounds.durationMaximum else {
            throw error(key, "duration \(ConfigText.quote(s)) is too long (at most 30d)",
                        violation: .durationAboveMaximum(maximum: ConfigBounds.durationMaximum))
        }
        return seconds
    }

    /// A byte size: a string such as "64MiB", "10MB", "1000", or a positive integer of bytes.
    func byteSize(_ key: String) throws(ConfigError) -> Int? {
        guard let v = value(key) else { return nil }
        if let i = v.int {
            guard i > 0 else { throw error(key, "size must be positive, got \(i)") }
            return i
        }
        guard let s = v.string else {
            throw typeError(key, expected: "a size string such as \"64MiB\" or an integer of bytes", got: v)
        }
        // Units.parseByteSize multiplies without an overflow check; keep the number small
        // enough (< 10^10) that no unit can overflow Int64.
        let digits = s.trimmingWhitespace().prefix { $0.isNumber }.drop { $0 == "0" }
        guard digits.count <= 10, let bytes = Units.parseByteSize(s) else {
            throw error(key, "bad size \(ConfigText.quote(s)): use a positive integer with an optional unit B, KiB, MiB, GiB, KB, MB or GB, e.g. \"64MiB\"")
        }
        return bytes
    }
}
