import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// CPU time, wall time and peak memory of this process, from getrusage and /proc.
enum ResourceUsage {
    /// User + system CPU seconds of the whole process.
    static func processCPU() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return seconds(u.ru_utime) + seconds(u.ru_stime)
    }

    /// CPU seconds of the calling thread (for excluding the replay source's own work).
    static func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Peak resident set size in KiB (ru_maxrss is KiB on Linux).
    static func maxRSSKiB() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Int(u.ru_maxrss)
    }

    /// A `/proc/self/status` field in KiB (`VmHWM` = peak RSS, `VmRSS` = current), nil elsewhere.
    static func procStatusKiB(_ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    /// The largest resident mappings from /proc/self/smaps (path, KiB), biggest first: shows
    /// how much of the RSS is shared-library text/data rather than the pipeline's own heap.
    static func topMappings(_ n: Int) -> [(String, Int)] {
        // Read with stdio: /proc files report size 0, which whole-file readers may trust.
        guard let f = fopen("/proc/self/smaps", "r") else { return [] }
        defer { fclose(f) }
        var text = ""
        var line: UnsafeMutablePointer<CChar>?
        var cap = 0
        while getline(&line, &cap, f) > 0, let l = line { text += String(cString: l) }
        free(line)
        var sums: [String: Int] = [:]
        var current = "[anon]"
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = parts.first, first.contains("-"), parts.count >= 5, !first.hasSuffix(":") {
                current = parts.count >= 6 ? String(parts[5]) : "[anon]"
            } else if first(of: parts) == "Rss:", parts.count >= 2, let kib = Int(parts[1]) {
                sums[current, default: 0] += kib
            }
        }
        return sums.sorted { $0.value > $1.value }.prefix(n).map { ($0.key, $0.value) }
    }

    private static func first(of parts: [Substring]) -> Substring? { parts.first }

    /// Number of threads of this process (to show the run was single-threaded).
    static func threads() -> Int? { procStatusKiB("Threads") }

    private static func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
}
