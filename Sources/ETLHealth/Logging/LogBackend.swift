import FoundationEssentials
import Glibc
import Logging

/// Where log lines go. Journald only when systemd connected our stderr to the journal:
/// `JOURNAL_STREAM` ("device:inode") is inherited by children whose stderr may have been
/// redirected, so it must match `fstat(2)` of fd 2 to count.
public enum LogBackend: String, Sendable, Equatable {
    case journald
    case stderr

    /// Metadata key that marks an entry as a CloudWatch EMF document: the journald handler
    /// turns it into the field `SPOTIFYD_EMF=1`; the stderr handler writes the bare JSON.
    public static let emfMetadataKey = "spotifyd_emf"

    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment,
                              fd: Int32 = 2) -> LogBackend {
        journalStreamMatches(environment["JOURNAL_STREAM"], fd: fd) ? .journald : .stderr
    }

    /// True when `value` is "dev:ino" and equals the device/inode of `fd`.
    public static func journalStreamMatches(_ value: String?, fd: Int32) -> Bool {
        guard let value, let (dev, ino) = parseJournalStream(value) else { return false }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    /// Parses "dev:ino" (both decimal). Pure.
    public static func parseJournalStream(_ value: String) -> (UInt64, UInt64)? {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let d = UInt64(parts[0]), let i = UInt64(parts[1]) else { return nil }
        return (d, i)
    }

    public func makeHandler(label: String, secrets: [String] = []) -> LogHandler {
        switch self {
        case .journald: return JournaldLogHandler(label: label, secrets: secrets)
        case .stderr: return StderrLogHandler(label: label, secrets: secrets)
        }
    }

    /// Installs this backend process-wide (swift-log allows bootstrapping once).
    public func bootstrap(level: Logger.Level = .info, secrets: [String] = []) {
        LoggingSystem.bootstrap { label in
            var h = self.makeHandler(label: label, secrets: secrets)
            h.logLevel = level
            return h
        }
    }
}
