import ETLCore
import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// One readable line per event on stderr, prefixed `<N>` with the syslog priority so that
/// journald (`SyslogLevelPrefix=yes`, the default) still files it at the right level when we
/// are not talking to the journal natively. Flushed per line: a crash loses nothing buffered.
public struct StderrLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    public var secrets: [String]

    public init(label: String, secrets: [String] = [], metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.secrets = secrets
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let p = metadataProvider { merged.merge(p.get()) { _, new in new } }
        if let m = event.metadata { merged.merge(m) { _, new in new } }
        Self.write(Self.formatLine(level: event.level, message: event.message.description, metadata: merged, secrets: secrets))
    }

    private static let lock = Lock()

    /// Writes one line (newline added) straight to fd 2, unbuffered, so nothing is held in a
    /// stdio buffer; serialised so lines never interleave. A closed or full stderr drops the
    /// line: there is nowhere else to report it.
    public static func write(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        lock.withLock {
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
                if n < 0 { if errno == EINTR { continue }; return }
                if n == 0 { return }
                off += n
            }
        }
    }

    /// `<6>info message key=value key2="value with spaces"`, metadata sorted by key.
    /// An EMF entry (metadata `spotifyd_emf=1`) is written as `<6>` + the bare JSON so a
    /// shipper reading the stream gets a parseable document.
    public static func formatLine(level: Logger.Level, message: String, metadata: Logger.Metadata, secrets: [String] = []) -> String {
        let prefix = "<\(JournalFields.priority(level))>"
        if let v = metadata[LogBackend.emfMetadataKey], JournalFields.text(v) == "1" {
            return prefix + oneLine(message)
        }
        var line = prefix + level.rawValue + " " + oneLine(Redaction.redact(message, secrets: secrets))
        for key in metadata.keys.sorted() {
            guard let v = metadata[key] else { continue }
            line += " " + key + "=" + quoteIfNeeded(oneLine(Redaction.redact(JournalFields.text(v), secrets: secrets)))
        }
        return line
    }

    /// One line whatever the text holds: C0/C1 control characters are escaped (`\n`, `\r`,
    /// `\t`, others `\u{1B}`), as are U+2028/U+2029 and the bidirectional overrides and
    /// isolates, so user text (a playlist name) can neither break the line nor forge another
    /// one, nor reorder what a terminal shows. The same rule as `LogText.escaped` (ETLHTTP,
    /// which this module does not depend on).
    static func oneLine(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for u in s.unicodeScalars {
            guard needsEscape(u) else { out.unicodeScalars.append(u); continue }
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out += "\\u{" + String(u.value, radix: 16, uppercase: true) + "}"
            }
        }
        return out
    }

    static func needsEscape(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    static func quoteIfNeeded(_ s: String) -> String {
        let needs = s.isEmpty || s.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\t" }
        guard needs else { return s }
        return "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}
