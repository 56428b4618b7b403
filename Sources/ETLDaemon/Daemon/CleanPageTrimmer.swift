import Glibc

/// Gives back the pages of code and read-only data the daemon touched once and may not touch
/// again — argument parsing, the TOML parser, migrations, start-up wiring — the way the kernel
/// frees its init sections after boot.
///
/// Why: in a statically linked Swift binary those pages stay mapped for the life of the process
/// and count in its RSS although nothing reads them after start-up (measured: ~13 MB of the
/// binary's pages resident, most of them start-up only). `MADV_DONTNEED` on a private file
/// mapping that was never written just unmaps its pages; what the daemon does use again
/// faults back in from the page cache (a minor fault, no I/O).
///
/// Safety: only mappings that are not writable and have no private dirty or anonymous pages
/// (read from /proc/self/smaps) are touched. A writable mapping could be written between the
/// read and the call, and a dirty one (e.g. RELRO after relocation) holds data that exists
/// only in memory; both are left alone.
public enum CleanPageTrimmer {
    public struct Mapping: Equatable, Sendable {
        public var start: UInt
        public var end: UInt
        public var readable: Bool
        public var writable: Bool
        public var path: String
        public var privateDirtyKB = 0
        public var anonymousKB = 0
        public var rssKB = 0

        /// Clean, never-written, file-backed: its pages can be dropped and refaulted.
        public var isDroppable: Bool {
            readable && !writable && path.hasPrefix("/") && privateDirtyKB == 0 && anonymousKB == 0 && rssKB > 0
        }
    }

    /// Parses /proc/PID/smaps text. Pure.
    public static func parse(smaps: String) -> [Mapping] {
        var out: [Mapping] = []
        for line in smaps.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), fields.count >= 5, !first.hasSuffix(":") {
                let bounds = first.split(separator: "-")
                guard bounds.count == 2, let s = UInt(bounds[0], radix: 16), let e = UInt(bounds[1], radix: 16) else { continue }
                let perms = Array(fields[1].utf8)
                let path = fields.count >= 6 ? fields[5...].joined(separator: " ") : ""
                out.append(Mapping(start: s, end: e, readable: perms.first == UInt8(ascii: "r"),
                                   writable: perms.count > 1 && perms[1] == UInt8(ascii: "w"), path: path))
            } else if !out.isEmpty, fields.count >= 2, let kb = Int(fields[1]) {
                switch first {
                case "Rss:": out[out.count - 1].rssKB = kb
                case "Private_Dirty:": out[out.count - 1].privateDirtyKB = kb
                case "Anonymous:": out[out.count - 1].anonymousKB = kb
                default: break
                }
            }
        }
        return out
    }

    /// Drops the clean pages of every droppable mapping; returns how many KB were resident in
    /// them. Errors (no /proc, a refused madvise) leave memory as it was.
    @discardableResult
    public static func trim() -> Int {
        guard let text = readProcFile("/proc/self/smaps") else { return 0 }
        var dropped = 0
        for m in parse(smaps: text) where m.isDroppable {
            guard let p = UnsafeMutableRawPointer(bitPattern: m.start) else { continue }
            if madvise(p, Int(m.end - m.start), MADV_DONTNEED) == 0 { dropped += m.rssKB }
        }
        return dropped
    }

    /// Reads a /proc file to its end (they report a size of 0, so size-first readers get nothing).
    public static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]); continue }
            if n < 0 && errno == EINTR { continue }
            return n == 0 ? String(decoding: bytes, as: UTF8.self) : nil
        }
    }
}
