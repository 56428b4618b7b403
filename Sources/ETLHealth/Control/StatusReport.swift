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

        enum CodingKeys: String, CodingKey {
            case id, name, items
            case lastPoll = "last_poll", snapshotID = "snapshot_id", nextDue = "next_due", lastError = "last_error"
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
        public init(expiresAt: String? = nil, state: String) { self.expiresAt = expiresAt; self.state = state }
        enum CodingKeys: String, CodingKey { case state, expiresAt = "expires_at" }
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
        public var state: String
        public init(state: String) { self.state = state }
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

    public init(version: String, uptimeS: Double, startedAt: String, playlists: [Playlist], rateGate: RateGate, token: Token,
                outbox: [Outbox], pendingBatches: Int, lastUpload: Upload? = nil, watchdog: Watchdog, disk: Disk? = nil) {
        self.version = version; self.uptimeS = uptimeS; self.startedAt = startedAt; self.playlists = playlists
        self.rateGate = rateGate; self.token = token; self.outbox = outbox; self.pendingBatches = pendingBatches
        self.lastUpload = lastUpload; self.watchdog = watchdog; self.disk = disk
    }

    enum CodingKeys: String, CodingKey {
        case version, playlists, token, outbox, watchdog, disk
        case uptimeS = "uptime_s", startedAt = "started_at", rateGate = "rate_gate",
             pendingBatches = "pending_batches", lastUpload = "last_upload"
    }

    /// Sorted-key JSON, one line.
    public func jsonLine() -> String { ControlCoding.line(self) }

    /// Human view for a terminal: a header block, then aligned tables. Pure.
    public func renderTable() -> String {
        var out = ""
        func kv(_ k: String, _ v: String) { out += k + String(repeating: " ", count: max(0, 16 - k.count)) + v + "\n" }
        kv("version", version)
        kv("started", "\(startedAt) (up \(Self.human(uptimeS)))")
        var gate = rateGate.state
        if let u = rateGate.until { gate += " until \(u)" }
        if let r = rateGate.reason { gate += " (\(r))" }
        kv("rate gate", gate)
        kv("token", token.state + (token.expiresAt.map { ", expires \($0)" } ?? ""))
        kv("watchdog", watchdog.state)
        if let d = disk { kv("disk", d.state) }
        kv("pending batches", String(pendingBatches))
        kv("last upload", lastUpload.map { "\($0.key) at \($0.at)" } ?? "-")
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
    /// spaces. Cells are flattened to one line.
    static func table(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        let all = ([header] + rows).map { $0.map { $0.replacing("\n", with: " ") } }
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

    /// 59 → "59s", 3725 → "1h2m", 90000 → "1d1h".
    static func human(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.down))
        if s < 60 { return "\(max(s, 0))s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\((s % 3600) / 60)m" }
        return "\(s / 86400)d\((s % 86400) / 3600)h"
    }
}
