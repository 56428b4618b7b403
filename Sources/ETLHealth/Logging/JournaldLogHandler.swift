import CSystemd
import ETLCore
import FoundationEssentials
import Logging

/// Native journal entries via `sd_journal_sendv`, so metadata becomes indexed, queryable
/// fields (`journalctl -u spotifyd-etl PLAYLIST_ID=...`) rather than text inside MESSAGE, and
/// multi-line messages stay one entry. SYSLOG_IDENTIFIER is sent explicitly: `spotifyd-etl`
/// for the log, `spotifyd-etl-metrics` for EMF documents, so `journalctl -t spotifyd-etl`
/// reads the log without the metrics JSON and `-t spotifyd-etl-metrics` only the metrics.
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    public let identifier: String
    /// SYSLOG_IDENTIFIER of EMF entries (metadata `spotifyd_emf=1`).
    public let metricsIdentifier: String
    /// Extra literal secrets (client secret, tokens) to scrub besides the Redaction patterns.
    public var secrets: [String]

    public init(label: String, identifier: String = JournalFields.defaultIdentifier,
                metricsIdentifier: String = JournalFields.metricsIdentifier, secrets: [String] = [],
                metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.identifier = identifier
        self.metricsIdentifier = metricsIdentifier
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
        let fields = JournalFields.build(level: event.level, message: event.message.description, metadata: merged,
                                         file: event.file, function: event.function, line: event.line,
                                         identifier: identifier, metricsIdentifier: metricsIdentifier,
                                         secrets: secrets)
        if JournalFields.send(fields) != 0 {
            // Send failed (e.g. EMSGSIZE, ENOBUFS): never drop the line silently. Note libsystemd
            // itself returns 0 when the journal socket does not exist, which is why this
            // backend is chosen only when JOURNAL_STREAM proves journald is our stderr.
            StderrLogHandler.write(StderrLogHandler.formatLine(level: event.level, message: event.message.description,
                                                                metadata: merged, secrets: secrets))
        }
    }
}

/// Pure construction of journal fields, separate from the socket so it is testable anywhere.
public enum JournalFields {
    public static let defaultIdentifier = "spotifyd-etl"
    /// SYSLOG_IDENTIFIER of EMF metric documents, kept apart from the log's.
    public static let metricsIdentifier = "spotifyd-etl-metrics"
    /// Fields we set ourselves; metadata keys that would collide get a `META_` prefix.
    static let reserved: Set<String> = ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE",
                                        "CODE_FUNC", "MESSAGE_ID", "ERRNO", "SYSLOG_FACILITY", "SYSLOG_PID",
                                        "SYSLOG_TIMESTAMP", "LOGGER"]

    /// syslog(3) priorities: 7 debug … 2 critical.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Journal field names: `[A-Z0-9_]`, not starting with `_` (trusted fields) or a digit,
    /// at most 64 chars. Returns nil when nothing usable remains.
    public static func fieldName(_ key: String) -> String? {
        var out = ""
        for u in key.uppercased().unicodeScalars {
            if (u >= "A" && u <= "Z") || (u >= "0" && u <= "9") || u == "_" { out.unicodeScalars.append(u) }
            else { out.append("_") }
        }
        while let f = out.unicodeScalars.first, f == "_" || (f >= "0" && f <= "9") { out.unicodeScalars.removeFirst() }
        guard !out.isEmpty else { return nil }
        if reserved.contains(out) { out = "META_" + out }
        return String(out.prefix(64))
    }

    /// Flattens a swift-log metadata value to text.
    public static func text(_ v: Logger.Metadata.Value) -> String {
        switch v {
        case .string(let s): return s
        case .stringConvertible(let c): return c.description
        case .array, .dictionary: return v.description
        }
    }

    /// Whether the metadata marks an EMF document (`spotifyd_emf=1`).
    public static func isEMF(_ metadata: Logger.Metadata) -> Bool {
        metadata[LogBackend.emfMetadataKey].map { text($0) == "1" } ?? false
    }

    /// `KEY=value` strings for one entry, in a stable order: MESSAGE, PRIORITY,
    /// SYSLOG_IDENTIFIER, CODE_*, then metadata sorted by field name. MESSAGE and values pass
    /// through Redaction. SYSLOG_IDENTIFIER is `metricsIdentifier` for an EMF document,
    /// `identifier` for everything else.
    public static func build(level: Logger.Level, message: String, metadata: Logger.Metadata,
                             file: String, function: String, line: UInt,
                             identifier: String = defaultIdentifier, metricsIdentifier: String = JournalFields.metricsIdentifier,
                             secrets: [String] = []) -> [String] {
        var fields = [
            "MESSAGE=" + Redaction.redact(message, secrets: secrets),
            "PRIORITY=\(priority(level))",
            "SYSLOG_IDENTIFIER=" + (isEMF(metadata) ? metricsIdentifier : identifier),
            "CODE_FILE=" + file,
            "CODE_LINE=\(line)",
            "CODE_FUNC=" + function,
        ]
        var meta: [(String, String)] = []
        for (k, v) in metadata {
            guard let name = fieldName(k) else { continue }
            meta.append((name, Redaction.redact(text(v), secrets: secrets)))
        }
        meta.sort { $0.0 < $1.0 }
        fields += meta.map { $0.0 + "=" + $0.1 }
        return fields
    }

    /// Sends fields with `sd_journal_sendv`; 0 on success, negative errno otherwise.
    /// Values may contain newlines: sendv transmits them length-prefixed.
    @discardableResult
    public static func send(_ fields: [String]) -> Int32 {
        let buffers = fields.map { Array($0.utf8) }
        let total = buffers.reduce(0) { $0 + $1.count }
        let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(total, 1))
        defer { storage.deallocate() }
        var iov: [iovec] = []
        iov.reserveCapacity(buffers.count)
        var offset = 0
        for b in buffers {
            let p = storage + offset
            b.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { p.update(from: base, count: b.count) }
            }
            iov.append(iovec(iov_base: UnsafeMutableRawPointer(p), iov_len: b.count))
            offset += b.count
        }
        return iov.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
    }
}
