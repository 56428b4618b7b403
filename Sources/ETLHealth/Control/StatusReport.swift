import ETLCore
import FoundationEssentials

/// What `spotifyd-etl status` shows. Timestamps are contract-form strings (`...Z`) so the
/// JSON is stable and needs no date strategy on either side.
public struct StatusReport: Codable, Sendable, Equatable {
    public struct Playlist: Codable, Sendable, Equatable {
        public var id: String
        public var name: String?
        public var lastPoll: String?
        public var snapshotID: String?
        public var items: Int?
        public var nextDue: String?
        public var lastError: String?

        public init(id: String, name: String? = nil, lastPoll: String? = nil, snapshotID: String? = nil, items: Int? = nil,
                    nextDue: String? = nil, lastError: String? = nil) {
            self.id = id; self.name = name; self.lastPoll = lastPoll; self.snapshotID = snapshotID
            self.items = items; self.nextDue = nextDue; self.lastError = lastError
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case id, name, items
            case lastPoll = "last_poll", snapshotID = "snapshot_id", nextDue = "next_due", lastError = "last_error"
        }

        /// The optional text field under `key`.
        private func text(_ key: CodingKeys) -> String? {
            switch key {
            case .name: name
            case .lastPoll: lastPoll
            case .snapshotID: snapshotID
            case .nextDue: nextDue
            case .lastError: lastError
            case .id, .items: nil
            }
        }

        /// The keys in the order `.sortedKeys` writes them.
        private static let keyOrder = CodingKeys.allCases.sorted { $0.rawValue < $1.rawValue }

        /// Appends this entry as the JSON object JSONEncoder (`.sortedKeys`) writes for it:
        /// the same keys in the same order, absent values left out; strings through `JSONText`.
        func appendJSON(to out: inout [UInt8]) {
            out.append(UInt8(ascii: "{"))
            var first = true
            func open(_ key: CodingKeys) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                JSONText.appendString(key.rawValue, to: &out)
                out.append(UInt8(ascii: ":"))
            }
            for key in Self.keyOrder {
                switch key {
                case .items: if let items { open(key); JSONText.appendInt(Int64(items), to: &out) }
                case .id: open(key); JSONText.appendString(id, to: &out)
                case .name, .lastPoll, .snapshotID, .nextDue, .lastError:
                    if let text = text(key) { open(key); JSONText.appendString(text, to: &out) }
                }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    public struct RateGate: Codable, Sendable, Equatable {
        /// "free" | "throttled"
        public var state: String
        public var until: String?
        public var reason: String?
        public init(state: String, until: String? = nil, reason: String? = nil) {
            self.state = state; self.until = until; self.reason = reason
        }
    }

    public struct Token: Codable, Sendable, Equatable {
        public var expiresAt: String?
        /// e.g. "valid", "expired", "missing", "invalid_grant"
        public var state: String
        /// Set while the newest refresh token (rotated by Spotify) is not saved in the state
        /// database: a restart now would start with the superseded one.
        public var refreshTokenUnsaved: UnsavedRefreshToken?
        public init(expiresAt: String? = nil, state: String, refreshTokenUnsaved: UnsavedRefreshToken? = nil) {
            self.expiresAt = expiresAt; self.state = state; self.refreshTokenUnsaved = refreshTokenUnsaved
        }
        enum CodingKeys: String, CodingKey {
            case state, expiresAt = "expires_at", refreshTokenUnsaved = "refresh_token_unsaved"
        }
    }

    /// A rotated refresh token whose save failed and is being retried.
    public struct UnsavedRefreshToken: Codable, Sendable, Equatable {
        public var since: String
        /// Why the last save failed (never the token).
        public var error: String
        public var attempts: Int
        public var nextAttempt: String
        public init(since: String, error: String, attempts: Int, nextAttempt: String) {
            self.since = since; self.error = error; self.attempts = attempts; self.nextAttempt = nextAttempt
        }
        enum CodingKeys: String, CodingKey { case since, error, attempts, nextAttempt = "next_attempt" }
    }

    public struct Outbox: Codable, Sendable, Equatable {
        public var table: String
        public var rows: Int
        public var oldestAgeS: Double?
        public init(table: String, rows: Int, oldestAgeS: Double? = nil) {
            self.table = table; self.rows = rows; self.oldestAgeS = oldestAgeS
        }
        enum CodingKeys: String, CodingKey { case table, rows, oldestAgeS = "oldest_age_s" }
    }

    public struct Upload: Codable, Sendable, Equatable {
        public var key: String
        public var at: String
        public init(key: String, at: String) { self.key = key; self.at = at }
    }

    public struct Watchdog: Codable, Sendable, Equatable {
        /// The verdict's short form: "ok", "disabled", "stalled: flusher since 12:03Z".
        public var state: String
        /// WATCHDOG_USEC in seconds; nil when systemd asked for no watchdog.
        public var intervalS: Double?
        /// WATCHDOG=1 pings delivered since start.
        public var pings: Int
        /// Largest gap between consecutive pings since start; nil before the first ping.
        /// Close to `intervalS` means systemd nearly restarted the daemon.
        public var maxGapS: Double?

        public init(state: String, intervalS: Double? = nil, pings: Int = 0, maxGapS: Double? = nil) {
            self.state = state; self.intervalS = intervalS; self.pings = pings; self.maxGapS = maxGapS
        }

        /// From the watchdog's own counters.
        public init(state: String, stats: WatchdogStats) {
            self.init(state: state, intervalS: stats.intervalS, pings: stats.pings,
                      maxGapS: stats.pings > 0 ? stats.maxGapS : nil)
        }

        enum CodingKeys: String, CodingKey { case state, pings, intervalS = "interval_s", maxGapS = "max_gap_s" }

        /// Reports from a daemon that predates the counters carry only `state`.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            state = try c.decode(String.self, forKey: .state)
            intervalS = try c.decodeIfPresent(Double.self, forKey: .intervalS)
            pings = try c.decodeIfPresent(Int.self, forKey: .pings) ?? 0
            maxGapS = try c.decodeIfPresent(Double.self, forKey: .maxGapS)
        }

        /// "ok (pings every 1.0 s, largest gap 1.0 s)"; the bare state when disabled.
        public var summary: String {
            guard let iv = intervalS else { return state }
            let gap = maxGapS.map { "largest gap \(StatusReport.tenths($0)) s" } ?? "no ping yet"
            return "\(state) (pings every \(StatusReport.tenths(iv / 2)) s, \(gap))"
        }
    }

    /// "healthy", or "degraded" with the reasons an operator must look at. `spotifyd-etl
    /// status` exits 1 when degraded, like `systemctl status` for a unit that is not ok.
    public struct Health: Codable, Sendable, Equatable {
        public var state: String
        public var reasons: [String]
        public init(reasons: [String]) { state = reasons.isEmpty ? "healthy" : "degraded"; self.reasons = reasons }
        public var isHealthy: Bool { reasons.isEmpty }
        /// "healthy" or "degraded: uploads failing (…); watchdog: stalled: flusher since 12:03Z".
        public var line: String { reasons.isEmpty ? state : "\(state): " + reasons.joined(separator: "; ") }
    }

    /// The last failed upload: when, which object (when known) and the sink's error.
    public struct UploadError: Codable, Sendable, Equatable {
        public var at: String
        public var key: String?
        public var error: String
        public init(at: String, key: String?, error: String) { self.at = at; self.key = key; self.error = error }
    }

    /// While playlists are loaded for the first time: how far along.
    public struct InitialLoad: Codable, Sendable, Equatable {
        public var done: Int
        public var total: Int
        public var items: Int
        public init(done: Int, total: Int, items: Int) { self.done = done; self.total = total; self.items = items }
        /// "initial load: 37/200 playlists, 18,204 items"
        public var line: String { "initial load: \(done)/\(total) playlists, \(LogText.count(items)) items" }
    }

    /// Batches quarantined because their rows could not be read or encoded, still present in
    /// the dead-letter directory (the operator replays or clears them).
    public struct DeadLetters: Codable, Sendable, Equatable {
        public var count: Int
        public var directory: String
        /// The newest dead letter's batch key and cause.
        public var latestKey: String?
        public var latestReason: String?
        public init(count: Int, directory: String, latestKey: String? = nil, latestReason: String? = nil) {
            self.count = count; self.directory = directory; self.latestKey = latestKey; self.latestReason = latestReason
        }
        enum CodingKeys: String, CodingKey {
            case count, directory, latestKey = "latest_key", latestReason = "latest_reason"
        }
        /// "2 batches quarantined in /var/lib/spotifyd-etl/dead-letter (latest: <key>: <reason>)"
        public var line: String {
            "\(count) \(count == 1 ? "batch" : "batches") quarantined in \(directory)"
                + (latestReason.map { r in " (latest: " + (latestKey.map { "\($0): " } ?? "") + r + ")" } ?? "")
        }
    }

    /// `[instance]` of the daemon: its id, and its shard's share of the playlist list.
    public struct Instance: Codable, Sendable, Equatable {
        public var id: String
        public var shard: ShardShare?
        public init(id: String, shard: ShardShare? = nil) { self.id = id; self.shard = shard }
        /// "a" or "b, shard 2/5: 41 of 200 playlists".
        public var line: String { id + (shard.map { ", " + $0.line } ?? "") }
    }

    /// One shard's share: `index` and `count` exactly as configured (`index` is 0-based),
    /// `playlists` polled here of `listed` in the config.
    public struct ShardShare: Codable, Sendable, Equatable {
        public var index: Int
        public var count: Int
        public var playlists: Int
        public var listed: Int
        public init(index: Int, count: Int, playlists: Int, listed: Int) {
            self.index = index; self.count = count; self.playlists = playlists; self.listed = listed
        }
        /// "shard 2/5: 41 of 200 playlists".
        public var line: String { "shard \(index)/\(count): \(playlists) of \(listed) playlists" }
    }

    public struct Disk: Codable, Sendable, Equatable {
        /// e.g. "ok", "low: 120MiB free", "full"
        public var state: String
        public init(state: String) { self.state = state }
    }

    public var version: String
    public var uptimeS: Double
    public var startedAt: String
    public var playlists: [Playlist]
    public var rateGate: RateGate
    public var token: Token
    public var outbox: [Outbox]
    public var pendingBatches: Int
    public var lastUpload: Upload?
    public var watchdog: Watchdog
    public var disk: Disk?
    /// Where batches go: "local /var/lib/spotifyd-etl/out" or "s3://bucket/prefix".
    public var sink: String?
    public var lastUploadError: UploadError?
    public var health: Health?
    public var initialLoad: InitialLoad?
    /// Present while dead letters exist.
    public var deadLetters: DeadLetters?
    /// Present when `[instance] id` is set.
    public var instance: Instance?

    public init(version: String, uptimeS: Double, startedAt: String, playlists: [Playlist], rateGate: RateGate, token: Token,
                outbox: [Outbox], pendingBatches: Int, lastUpload: Upload? = nil, watchdog: Watchdog, disk: Disk? = nil) {
        self.version = version; self.uptimeS = uptimeS; self.startedAt = startedAt; self.playlists = playlists
        self.rateGate = rateGate; self.token = token; self.outbox = outbox; self.pendingBatches = pendingBatches
        self.lastUpload = lastUpload; self.watchdog = watchdog; self.disk = disk
    }

    /// The daemon's verdict; a report from a daemon that predates it counts as healthy.
    public var effectiveHealth: Health { health ?? Health(reasons: []) }

    enum CodingKeys: String, CodingKey {
        case version, playlists, token, outbox, watchdog, disk, sink, health, instance
        case uptimeS = "uptime_s", startedAt = "started_at", rateGate = "rate_gate",
             pendingBatches = "pending_batches", lastUpload = "last_upload", lastUploadError = "last_upload_error",
             initialLoad = "initial_load", deadLetters = "dead_letters"
    }

    /// Sorted-key JSON, one line, safe to print on a terminal: besides the C0 controls the
    /// encoder escapes, C1 controls, DEL, U+2028/U+2029 and the bidi overrides/isolates in any
    /// string (playlist names, error texts, keys all come from outside) are written as `\uXXXX`.
    public func jsonLine() -> String {
        LogText.terminalSafeJSON(String(decoding: ControlCoding.bytes(self, playlists: playlists) { $0.playlists = [] }, as: UTF8.self))
    }

    /// Human view for a terminal: a header block, then aligned tables. Pure. Every value passes
    /// `LogText.escaped` (in `kv` and `table`), so text from outside — playlist names, error
    /// texts, object keys — cannot move the cursor, retitle the window or reorder the line.
    public func renderTable() -> String {
        var out = LogText.escaped(effectiveHealth.line) + "\n"
        func kv(_ k: String, _ v: String) {
            out += k + String(repeating: " ", count: max(0, 16 - k.count)) + LogText.escaped(v) + "\n"
        }
        kv("version", version)
        if let l = initialLoad { kv("progress", l.line) }
        if let sink { kv("sink", sink) }
        if let instance { kv("instance", instance.line) }
        kv("started", "\(startedAt) (up \(Self.human(uptimeS)))")
        var gate = rateGate.state
        if let u = rateGate.until { gate += " until \(u)" }
        if let r = rateGate.reason { gate += " (\(r))" }
        kv("rate gate", gate)
        kv("token", token.state + (token.expiresAt.map { ", expires \($0)" } ?? ""))
        if let u = token.refreshTokenUnsaved {
            kv("token save", "newest refresh token unsaved since \(u.since) (\(u.attempts) attempts, next \(u.nextAttempt)): \(u.error)")
        }
        kv("watchdog", watchdog.summary)
        if let d = disk { kv("disk", d.state) }
        kv("pending batches", String(pendingBatches))
        if let d = deadLetters { kv("dead letters", d.line) }
        kv("last upload", lastUpload.map { "\($0.key) at \($0.at)" } ?? "-")
        if let e = lastUploadError {
            kv("upload error", "\(e.at)" + (e.key.map { " \($0)" } ?? "") + ": \(e.error)")
        }
        out += "\n"
        out += Self.table(header: ["PLAYLIST", "NAME", "ITEMS", "SNAPSHOT", "LAST POLL", "NEXT DUE", "LAST ERROR"],
                          rows: playlists.map {
                              [$0.id, $0.name ?? "-", $0.items.map(String.init) ?? "-", $0.snapshotID.map { String($0.prefix(12)) } ?? "-",
                               $0.lastPoll ?? "-", $0.nextDue ?? "-", $0.lastError ?? "-"]
                          }, rightAligned: [2])
        out += "\n"
        out += Self.table(header: ["OUTBOX TABLE", "ROWS", "OLDEST"],
                          rows: outbox.map { [$0.table, String($0.rows), $0.oldestAgeS.map(Self.human) ?? "-"] },
                          rightAligned: [1, 2])
        return out
    }

    /// Columns padded to the widest cell (by Character count), two spaces apart, no trailing
    /// spaces. Cells are escaped to one line (`LogText.escaped`: `\n`, controls, bidi).
    static func table(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        let all = ([header] + rows).map { $0.map(LogText.escaped) }
        var widths = Array(repeating: 0, count: header.count)
        for r in all { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for r in all {
            var cells: [String] = []
            for (i, c) in r.enumerated() where i < widths.count {
                let pad = String(repeating: " ", count: widths[i] - c.count)
                cells.append(rightAligned.contains(i) ? pad + c : c + pad)
            }
            var line = cells.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            out += line + "\n"
        }
        return out
    }

    /// One decimal, rounded: 0.5 → "0.5", 1 → "1.0", 899.96 → "900.0".
    static func tenths(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        let t = Int((x * 10).rounded())
        let sign = t < 0 ? "-" : ""
        return "\(sign)\(abs(t) / 10).\(abs(t) % 10)"
    }

    /// 59 → "59s", 3725 → "1h2m", 90000 → "1d1h".
    public static func human(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.down))
        if s < 60 { return "\(max(s, 0))s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\((s % 3600) / 60)m" }
        return "\(s / 86400)d\((s % 86400) / 3600)h"
    }
}
