import ETLCore
import FoundationEssentials

/// One metric's value for an interval: a single number (counters, gauges) or up to 100
/// samples (timers, aggregating recorders), which EMF accepts as an array.
public enum EMFValue: Sendable, Equatable {
    case single(Double)
    case samples([Double])
}

/// Everything one interval produced, already rolled up. Plain data: input of the pure encoder.
public struct EMFSnapshot: Sendable, Equatable {
    public var timestamp: Date
    /// Service-level values by metric name (dimension set [Service]).
    public var service: [String: EMFValue]
    /// Per-playlist values (dimension set [Service, PlaylistId]): playlist id → name → value.
    public var perPlaylist: [String: [String: EMFValue]]

    public init(timestamp: Date, service: [String: EMFValue] = [:], perPlaylist: [String: [String: EMFValue]] = [:]) {
        self.timestamp = timestamp
        self.service = service
        self.perPlaylist = perPlaylist
    }
}

/// Pure CloudWatch Embedded Metric Format writer.
///
/// Spec points honoured: root `_aws` with `Timestamp` (epoch ms) and `CloudWatchMetrics`
/// (one MetricDirective with Namespace, Dimensions, Metrics); every metric and dimension named
/// in a directive is a root member (dimension values strings, metric values numbers or arrays
/// of at most 100 numbers); at most 100 MetricDefinitions per directive, so a document with more
/// names is split; dimension values must be non-empty ASCII without control characters, so a
/// playlist id that is not is skipped rather than producing a document CloudWatch rejects.
/// Output is deterministic (sorted metric order after the required ones) via JSONText.
public enum EMFEncoder {
    public static let defaultNamespace = "SpotifyETL"
    public static let serviceName = "spotifyd-etl"
    public static let maxMetricsPerDocument = 100
    public static let maxValuesPerMetric = 100

    /// Documents for one snapshot: the service-level one(s) first, then one per playlist.
    /// The first service document always names all `MetricNames.required`, 0 when absent.
    public static func encode(_ snapshot: EMFSnapshot, namespace: String = defaultNamespace,
                              service: String = serviceName) -> [String] {
        let ms = Int64((snapshot.timestamp.timeIntervalSince1970 * 1000).rounded(.down))
        var docs: [String] = []

        var serviceMetrics: [(String, EMFValue)] = MetricNames.required.map { ($0, snapshot.service[$0] ?? .single(0)) }
        let extras = snapshot.service.keys.filter { !MetricNames.required.contains($0) }.sorted()
        serviceMetrics += extras.map { ($0, snapshot.service[$0]!) }
        for chunk in chunks(serviceMetrics) {
            docs.append(document(timestampMs: ms, namespace: namespace, dimensions: [("Service", service)], metrics: chunk))
        }

        for playlist in snapshot.perPlaylist.keys.sorted() where isValidDimensionValue(playlist) {
            let values = snapshot.perPlaylist[playlist]!
            let metrics = orderedNames(values.keys).map { ($0, values[$0]!) }
            guard !metrics.isEmpty else { continue }
            for chunk in chunks(metrics) {
                docs.append(document(timestampMs: ms, namespace: namespace,
                                     dimensions: [("Service", service), (MetricNames.playlistDimension, playlist)],
                                     metrics: chunk))
            }
        }
        return docs
    }

    /// Required names first (in their canonical order), then the rest sorted.
    static func orderedNames<S: Sequence>(_ names: S) -> [String] where S.Element == String {
        let set = Set(names)
        return MetricNames.required.filter { set.contains($0) } + set.subtracting(MetricNames.required).sorted()
    }

    static func chunks(_ metrics: [(String, EMFValue)]) -> [[(String, EMFValue)]] {
        stride(from: 0, to: metrics.count, by: maxMetricsPerDocument).map {
            Array(metrics[$0..<min($0 + maxMetricsPerDocument, metrics.count)])
        }
    }

    /// CloudWatch dimension values: 1–1024 ASCII chars, at least one non-whitespace, no controls.
    public static func isValidDimensionValue(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 1024 else { return false }
        guard s.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else { return false }
        return s.contains { !$0.isWhitespace }
    }

    static func document(timestampMs: Int64, namespace: String, dimensions: [(String, String)],
                         metrics: [(String, EMFValue)]) -> String {
        var o: [UInt8] = []
        func raw(_ s: String) { o.append(contentsOf: Array(s.utf8)) }
        func str(_ s: String) { JSONText.appendString(s, to: &o) }
        raw("{\"_aws\":{\"Timestamp\":\(timestampMs),\"CloudWatchMetrics\":[{\"Namespace\":")
        str(namespace)
        raw(",\"Dimensions\":[[")
        for (i, d) in dimensions.enumerated() { if i > 0 { raw(",") }; str(d.0) }
        raw("]],\"Metrics\":[")
        for (i, m) in metrics.enumerated() {
            if i > 0 { raw(",") }
            raw("{\"Name\":"); str(m.0); raw(",\"Unit\":"); str(MetricNames.unit(for: m.0).rawValue); raw("}")
        }
        raw("]}]}")
        for d in dimensions { raw(","); str(d.0); raw(":"); str(d.1) }
        for m in metrics {
            raw(","); str(m.0); raw(":")
            switch m.1 {
            case .single(let v): raw(number(v))
            case .samples(let vs):
                raw("[")
                for (i, v) in vs.prefix(maxValuesPerMetric).enumerated() { if i > 0 { raw(",") }; raw(number(v)) }
                raw("]")
            }
        }
        raw("}")
        return String(decoding: o, as: UTF8.self)
    }

    /// JSON number text: integers without a fraction, others with up to 6 decimals; NaN and
    /// infinities (not JSON) become 0.
    static func number(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        if v == v.rounded(), abs(v) < 9e15 { return String(Int64(v)) }
        var s = cFormat("%.6f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
