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
            return prefix + LogText.escaped(message)
        }
        var line = prefix + level.rawValue + " " + LogText.escaped(Redaction.redact(message, secrets: secrets))
        for key in metadata.keys.sorted() {
            guard let v = metadata[key] else { continue }
            line += " " + key + "=" + quoteIfNeeded(LogText.escaped(Redaction.redact(JournalFields.text(v), secrets: secrets)))
        }
        return line
    }

    static func quoteIfNeeded(_ s: String) -> String {
        let needs = s.isEmpty || s.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\t" }
        guard needs else { return s }
        return "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }
}
