/// Prometheus names for the metric vocabulary of `MetricNames` (the one source of truth: the
/// daemon records by those names, EMF writes them as they are, and Prometheus gets them mapped
/// here, never spelled out twice).
///
/// `spotifyd_etl_` + snake_case of the swift-metrics label; counters end in `_total`
/// (`ApiRequests` → `spotifyd_etl_api_requests_total`); gauges keep the unit their name
/// already carries (`OutboxOldestAgeSeconds` → `spotifyd_etl_outbox_oldest_age_seconds`);
/// timers become histograms in seconds (`..._seconds`), as Prometheus expects durations.
public enum PrometheusNames {
    public static let prefix = "spotifyd_etl_"
    /// `spotifyd_etl_build_info{version="…"} 1`.
    public static let buildInfo = prefix + "build_info"
    /// `spotifyd_etl_up 1`.
    public static let up = prefix + "up"

    /// How swift-metrics recorded a series; decides the suffix.
    public enum Kind: Sendable, Equatable {
        case counter, gauge, histogram, timer
    }

    /// The Prometheus metric name for a swift-metrics label of the given kind.
    public static func name(for label: String, kind: Kind) -> String {
        var base = snakeCase(label)
        if !base.hasPrefix(prefix) { base = prefix + base }
        switch kind {
        case .counter: return base.hasSuffix("_total") ? base : base + "_total"
        case .gauge, .histogram: return base
        case .timer: return base.hasSuffix("_seconds") ? base : base + "_seconds"
        }
    }

    /// The kind each `MetricNames` metric is recorded as: the gauges of `MetricNames.gauges`,
    /// counters otherwise (the same split the EMF documents make).
    public static func kind(of metric: String) -> Kind {
        MetricNames.gauges.contains(metric) ? .gauge : .counter
    }

    /// Prometheus twin of a metric the EMF documents carry.
    public static func twin(of metric: String) -> String { name(for: metric, kind: kind(of: metric)) }

    /// Every EMF service-level metric and its Prometheus twin, in document order.
    public static var required: [(emf: String, prometheus: String)] {
        MetricNames.required.map { ($0, twin(of: $0)) }
    }

    /// Label names: `PlaylistId` → `playlist_id`.
    public static func labelName(_ dimension: String) -> String { snakeCase(dimension) }

    /// `OutboxOldestAgeSeconds` → `outbox_oldest_age_seconds`, `HTTPErrors` → `http_errors`,
    /// `spotifyd-etl.queue` → `spotifyd_etl_queue`. Only `[a-z0-9_]` comes out, never starting
    /// with a digit, no doubled or trailing underscores.
    public static func snakeCase(_ s: String) -> String {
        let chars = Array(s.unicodeScalars)
        var out = ""
        func isUpper(_ c: Unicode.Scalar) -> Bool { ("A"..."Z").contains(c) }
        func isLower(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) }
        func isDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }
        func underscore() { if !out.isEmpty, !out.hasSuffix("_") { out += "_" } }
        for (i, c) in chars.enumerated() {
            if isUpper(c) {
                let prev = i > 0 ? chars[i - 1] : nil
                let next = i + 1 < chars.count ? chars[i + 1] : nil
                // A word starts at an upper-case letter after a lower-case one or a digit, or at
                // the last capital of an acronym followed by lower case ("HTTPErrors").
                if let p = prev, isLower(p) || isDigit(p) || (isUpper(p) && next.map(isLower) == true) { underscore() }
                out.unicodeScalars.append(Unicode.Scalar(c.value + 32)!)
            } else if isLower(c) || isDigit(c) {
                if out.isEmpty, isDigit(c) { out += "_" }
                out.unicodeScalars.append(c)
            } else {
                underscore()
            }
        }
        while out.hasSuffix("_") { out.removeLast() }
        return out.isEmpty ? "_" : out
    }
}
