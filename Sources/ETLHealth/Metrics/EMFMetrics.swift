import CoreMetrics
import ETLCore
import FoundationEssentials
import Synchronization

/// swift-metrics backend that aggregates in memory per interval for EMF.
///
/// Labels are metric names (`MetricNames`). The only dimension honoured is `PlaylistId`
/// (also accepted as `playlist_id`); other dimensions are folded into the series without them,
/// because each distinct dimension value is a separately billed CloudWatch metric.
///
/// Roll-up to the service level (dimension set [Service]): counters are summed over all
/// playlists; a gauge uses its value recorded without a playlist if any, otherwise the maximum
/// over playlists (e.g. the worst PollLagSeconds); samples are concatenated.
/// Per interval: counters reset to 0, gauges keep their last value, samples are cleared.
/// A playlist once seen keeps getting a per-playlist document (with 0 counters) so its
/// series has no gaps.
public final class EMFMetrics: MetricsFactory, Sendable {
    enum Kind { case counter, gauge, samples }

    struct Key: Hashable {
        var name: String
        var playlist: String?
    }

    struct Series {
        var kind: Kind
        var value: Double = 0
        var gaugeSet = false
        var samples: [Double] = []
    }

    private let series = Guarded<[Key: Series]>([:])
    private let clock: Clock

    public init(clock: Clock = SystemClock()) { self.clock = clock }

    static func playlist(from dimensions: [(String, String)]) -> String? {
        dimensions.first { $0.0 == MetricNames.playlistDimension || $0.0 == "playlist_id" }?.1
    }

    private func key(_ label: String, _ dims: [(String, String)], _ kind: Kind) -> Key {
        let k = Key(name: label, playlist: Self.playlist(from: dims))
        series.withLock { all in
            if all[k] == nil { all[k] = Series(kind: kind) }
        }
        return k
    }

    func update(_ k: Key, _ body: (inout Series) -> Void) {
        series.withLock { all in
            if var s = all[k] { body(&s); all[k] = s }
        }
    }

    /// Takes this interval's values. With `reset`, counters go to 0 and samples are cleared.
    public func snapshot(reset: Bool = true) -> EMFSnapshot {
        series.withLock { series in Self.snapshot(&series, timestamp: clock.now(), reset: reset) }
    }

    private static func snapshot(_ series: inout [Key: Series], timestamp: Date, reset: Bool) -> EMFSnapshot {
        var snap = EMFSnapshot(timestamp: timestamp)
        var gaugeMax: [String: Double] = [:]
        var gaugeDirect: [String: Double] = [:]
        var counters: [String: Double] = [:]
        var samples: [String: [Double]] = [:]
        for (k, s) in series {
            switch s.kind {
            case .counter:
                counters[k.name, default: 0] += s.value
                if let p = k.playlist { snap.perPlaylist[p, default: [:]][k.name] = .single(s.value) }
            case .gauge:
                guard s.gaugeSet else { continue }
                if let p = k.playlist {
                    snap.perPlaylist[p, default: [:]][k.name] = .single(s.value)
                    gaugeMax[k.name] = max(gaugeMax[k.name] ?? s.value, s.value)
                } else {
                    gaugeDirect[k.name] = s.value
                }
            case .samples:
                if let p = k.playlist {
                    if !s.samples.isEmpty { snap.perPlaylist[p, default: [:]][k.name] = .samples(s.samples) }
                    else { snap.perPlaylist[p, default: [:]] = snap.perPlaylist[p] ?? [:] }
                }
                if !s.samples.isEmpty { samples[k.name, default: []] += s.samples }
            }
        }
        for (n, v) in counters { snap.service[n] = .single(v) }
        for (n, v) in gaugeMax { snap.service[n] = .single(v) }
        for (n, v) in gaugeDirect { snap.service[n] = .single(v) }
        for (n, v) in samples { snap.service[n] = .samples(Array(v.prefix(EMFEncoder.maxValuesPerMetric))) }
        if reset {
            for k in Array(series.keys) {
                switch series[k]!.kind {
                case .counter: series[k]!.value = 0
                case .samples: series[k]!.samples.removeAll()
                case .gauge: break
                }
            }
        }
        return snap
    }

    // MARK: MetricsFactory

    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        Handler(factory: self, key: key(label, dimensions, .counter))
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> FloatingPointCounterHandler {
        Handler(factory: self, key: key(label, dimensions, .counter))
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler {
        Handler(factory: self, key: key(label, dimensions, .gauge))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        Handler(factory: self, key: key(label, dimensions, aggregate ? .samples : .gauge))
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        Handler(factory: self, key: key(label, dimensions, .samples))
    }

    public func destroyCounter(_ handler: CounterHandler) { destroy(handler) }
    public func destroyFloatingPointCounter(_ handler: FloatingPointCounterHandler) { destroy(handler) }
    public func destroyMeter(_ handler: MeterHandler) { destroy(handler) }
    public func destroyRecorder(_ handler: RecorderHandler) { destroy(handler) }
    public func destroyTimer(_ handler: TimerHandler) { destroy(handler) }

    private func destroy(_ handler: AnyObject) {
        guard let h = handler as? Handler else { return }
        series.withLock { $0[h.key] = nil }
    }

    /// One handler class for all kinds; the series' kind decides how updates aggregate.
    final class Handler: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, TimerHandler,
        Sendable
    {
        let factory: EMFMetrics
        let key: Key
        init(factory: EMFMetrics, key: Key) { self.factory = factory; self.key = key }

        func increment(by amount: Int64) { increment(by: Double(amount)) }
        func increment(by amount: Double) {
            factory.update(key) { s in s.value += amount; s.gaugeSet = true }
        }
        func decrement(by amount: Double) {
            factory.update(key) { s in s.value -= amount; s.gaugeSet = true }
        }
        func reset() { factory.update(key) { $0.value = 0 } }
        func set(_ value: Int64) { set(Double(value)) }
        func set(_ value: Double) { factory.update(key) { s in s.value = value; s.gaugeSet = true } }
        func record(_ value: Int64) { record(Double(value)) }
        func record(_ value: Double) {
            factory.update(key) { s in
                if s.kind == .samples {
                    // At most 100 values per metric per document (EMF); later ones in the interval are dropped.
                    if s.samples.count < EMFEncoder.maxValuesPerMetric { s.samples.append(value) }
                } else { s.value = value; s.gaugeSet = true }
            }
        }
        /// Timers are reported in milliseconds.
        func recordNanoseconds(_ duration: Int64) { record(Double(duration) / 1_000_000) }
    }
}
